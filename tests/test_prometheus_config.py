"""prometheus.yml, alert_rules.yml and alertmanager.yml: checked by promtool and amtool, rule unit
tests, the local rendering equal to the compose files but for addresses, and the Slack example."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app import procs
from app.observability import dashboards
from app.observability.config import (
    ALERTMANAGER_YML,
    COMPOSE_ONLY_JOBS,
    PROMETHEUS_YML,
    REPO,
    RULES_YML,
    Timing,
    render_alertmanager,
    render_prometheus,
    write_local,
)
from app.settings import Settings
from tests.conftest import require

RULE_TESTS = REPO / "tests" / "prometheus" / "alert_rules_test.yml"


def tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} (Debian package prometheus / prometheus-alertmanager)")
    assert path is not None
    return path


def run(*cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)


def local_settings(tmp_path: Path) -> Settings:
    return Settings(run_dir=tmp_path / "run", port=18000, snapshot_port=18002, alerts_port=18003,
                    alerts_url="http://127.0.0.1:18003", prometheus_url="http://127.0.0.1:19090",
                    alertmanager_url="http://127.0.0.1:19093", node_exporter_url="http://127.0.0.1:19100",
                    grafana_url="http://grafana.example:3000", ui_url="http://evidently.example:8001")


def test_promtool_checks_the_compose_config_and_rules() -> None:
    promtool = tool("promtool")
    out = run(promtool, "check", "config", str(PROMETHEUS_YML))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 rule files found" in out.stdout
    out = run(promtool, "check", "rules", str(RULES_YML))
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    out = run(tool("promtool"), "test", "rules", str(RULE_TESTS))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_rule_has_unit_tests_that_see_it_fire_and_stay_quiet() -> None:
    rules = [r["alert"] for g in yaml.safe_load(RULES_YML.read_text())["groups"] for r in g["rules"]]
    cases = [c for t in yaml.safe_load(RULE_TESTS.read_text())["tests"] for c in t["alert_rule_test"]]
    for alert in rules:
        mine = [c for c in cases if c["alertname"] == alert]
        assert any(c["exp_alerts"] for c in mine), f"{alert}: no test where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{alert}: no test where it stays quiet"


def test_every_alert_says_what_to_open() -> None:
    """summary, description, and a Grafana link to a panel that exists; model alerts link Evidently."""
    panels = {d.uid: {p.id: p.title for p in d.panels()} for d in dashboards.DASHBOARDS}
    groups = yaml.safe_load(RULES_YML.read_text())["groups"]
    for group in groups:
        for rule in group["rules"]:
            notes = rule["annotations"]
            assert {"summary", "description", "dashboard"} <= notes.keys(), rule["alert"]
            assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
            link = re.fullmatch(r"\{\{ \$externalLabels\.grafana_url \}\}/d/([\w-]+)/[\w-]+\?viewPanel=(\d+)",
                                notes["dashboard"])
            assert link, notes["dashboard"]
            uid, panel = link.group(1), int(link.group(2))
            assert panel in panels[uid], f"{rule['alert']} links to a missing panel {uid}/{panel}"
            if group["name"] == "ventwatch-model" and rule["alert"] not in (
                    "LabelCoverageLow", "SnapshotsStale", "SnapshotsNeverSucceeded"):
                assert notes["evidently"].startswith("{{ $externalLabels.evidently_url }}/projects/")


def test_rendered_local_config_equals_compose_but_for_addresses(tmp_path: Path) -> None:
    settings = local_settings(tmp_path)
    compose = yaml.safe_load(PROMETHEUS_YML.read_text())
    local = render_prometheus(settings, tmp_path / "rules.yml")

    jobs = {j["job_name"]: j for j in compose["scrape_configs"]}
    local_jobs = {j["job_name"]: j for j in local["scrape_configs"]}
    # Only compose-only jobs are missing, for a stated reason.
    assert set(jobs) - set(local_jobs) == set(COMPOSE_ONLY_JOBS)
    assert local_jobs["api"]["static_configs"] == [{"targets": ["127.0.0.1:18000"]}]
    assert local_jobs["node"]["static_configs"] == [{"targets": ["127.0.0.1:19100"]}]
    assert local["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["127.0.0.1:19093"]}]}]
    assert local["global"]["external_labels"] == {"grafana_url": "http://grafana.example:3000",
                                                  "evidently_url": "http://evidently.example:8001"}

    def without_addresses(config: dict[str, Any], keep: set[str]) -> dict[str, Any]:
        config = json.loads(json.dumps(config))
        config["scrape_configs"] = [{k: v for k, v in j.items() if k != "static_configs"}
                                    for j in config["scrape_configs"] if j["job_name"] in keep]
        for am in config["alerting"]["alertmanagers"]:
            am.pop("static_configs")
        config["global"]["external_labels"] = sorted(config["global"]["external_labels"])
        config.pop("rule_files")
        return config

    assert without_addresses(local, set(local_jobs)) == without_addresses(compose, set(local_jobs))
    assert local["rule_files"] == [str(tmp_path / "rules.yml")]


def test_rendered_alertmanager_equals_compose_but_for_the_receiver_url(tmp_path: Path) -> None:
    settings = local_settings(tmp_path)
    compose = yaml.safe_load(ALERTMANAGER_YML.read_text())
    local = render_alertmanager(settings)
    urls = [w["url"] for r in local["receivers"] for w in r.get("webhook_configs", [])]
    assert urls and all(u == "http://127.0.0.1:18003/webhook" for u in urls)
    for config in (compose, local):
        for receiver in config["receivers"]:
            for webhook in receiver.get("webhook_configs", []):
                webhook.pop("url")
    assert local == compose


def test_rendered_files_pass_promtool_and_amtool(tmp_path: Path) -> None:
    promtool, amtool = tool("promtool"), tool("amtool")
    fast = Timing(scrape_interval=timedelta(seconds=1), evaluation_interval=timedelta(seconds=1),
                  rule_for=timedelta(seconds=2), group_wait=timedelta(seconds=1))
    paths = write_local(local_settings(tmp_path), tmp_path / "cfg", timing=fast)
    out = run(promtool, "check", "config", str(paths.prometheus))
    assert out.returncode == 0, out.stdout + out.stderr
    out = run(amtool, "check-config", str(paths.alertmanager))
    assert out.returncode == 0, out.stdout + out.stderr
    rules = yaml.safe_load(paths.rules.read_text())
    assert {r["for"] for g in rules["groups"] for r in g["rules"]} == {"2s"}
    # Everything but `for` is the repository's rules.
    source = yaml.safe_load(RULES_YML.read_text())
    for group in (*source["groups"], *rules["groups"]):
        for rule in group["rules"]:
            rule.pop("for", None)
    assert rules == source


def test_amtool_checks_the_compose_alertmanager_config() -> None:
    out = run(tool("amtool"), "check-config", str(ALERTMANAGER_YML))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 receivers" in out.stdout


def test_routes_by_severity() -> None:
    amtool = tool("amtool")
    for severity, receiver in (("critical", "ventwatch-critical"), ("warning", "ventwatch-warning")):
        out = run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_YML}",
                  f"severity={severity}", "alertname=X")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == receiver


def slack_enabled(text: str, api_url_file: Path) -> str:
    """alertmanager.yml with its commented Slack example switched on, reading the URL from a file."""
    lines = text.splitlines()
    start = lines.index("    # slack-example-begin")
    end = lines.index("    # slack-example-end")
    block = lines[start + 1:end]
    code = [line for line in block if line.strip().startswith("# ") and
            (line.strip()[2:].startswith(("slack_configs", "-", "  ")))]
    assert code, "the Slack example is missing"
    uncommented = [line.replace("# ", "", 1) for line in code]
    out = "\n".join(lines[:start] + uncommented + lines[end + 1:]) + "\n"
    return out.replace("/run/secrets/slack_webhook_url", str(api_url_file))


class FakeSlack:
    """Slack's incoming-webhook endpoint, the one thing these tests mock: records what it gets."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.messages.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/XXXX"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    slack = FakeSlack()
    try:
        yield slack
    finally:
        slack.close()


def test_the_commented_slack_example_delivers_critical_alerts(tmp_path: Path, fake_slack: FakeSlack) -> None:
    """The example, uncommented, passes amtool, and a real Alertmanager posts to (fake) Slack."""
    amtool, alertmanager = tool("amtool"), tool("prometheus-alertmanager")
    secret = tmp_path / "slack_webhook_url"
    secret.write_text(fake_slack.url)
    receiver = procs.free_port()  # nothing listens: the webhook receiver is not under test here
    config = yaml.safe_load(slack_enabled(ALERTMANAGER_YML.read_text(), secret))
    for route in (config["route"], *config["route"]["routes"]):
        for key in ("group_wait", "group_interval"):
            route[key] = "1s"
    for r in config["receivers"]:
        for w in r.get("webhook_configs", []):
            w["url"] = f"http://127.0.0.1:{receiver}/webhook"
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    out = run(amtool, "check-config", str(path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "slack" in json.dumps(config["receivers"])

    port = procs.free_port()
    server = procs.start([alertmanager, f"--config.file={path}", f"--storage.path={tmp_path / 'data'}",
                          f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                         port, tmp_path / "alertmanager.log", ready_path="/-/ready")
    try:
        alert = {"labels": {"alertname": "ApiDown", "severity": "critical", "job": "api"},
                 "annotations": {"summary": "The prediction API does not answer",
                                 "dashboard": "http://grafana.example/d/ventwatch-api"}}
        warning = {"labels": {"alertname": "LabelCoverageLow", "severity": "warning"},
                   "annotations": {"summary": "few labels"}}
        response = httpx.post(f"{server.url}/api/v2/alerts", json=[alert, warning], timeout=10)
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 30
        while not fake_slack.messages and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # a warning would arrive by now too, were it routed to Slack
    finally:
        server.stop()
    assert len(fake_slack.messages) == 1, fake_slack.messages
    message = fake_slack.messages[0]
    text = json.dumps(message)
    assert "[FIRING] ApiDown" in text and "The prediction API does not answer" in text
    assert "http://grafana.example/d/ventwatch-api" in text and "few labels" not in text
