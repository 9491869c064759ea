"""The observability stack end to end, as real processes on 127.0.0.1.

API, snapshot service, alert receiver, node-exporter, Alertmanager and Prometheus are started
by the same code as `ventwatch up` (app/stack/local.py), with the repository's configuration
rendered for free ports, 1 s scrapes and evaluations, every rule's `for` cut to 3 s, and
Alertmanager grouping in seconds (the rules' real `for` durations are promtool-tested).
The drift drill (app/observability/drill.py) then drives the whole path:

(a) every scrape target is up;
(b) every expression of both Grafana dashboards, template variables and $__rate_interval
    expanded as Grafana would, is accepted by Prometheus and returns at least one series with
    a finite value over the run. The container panels read cAdvisor metrics, and cAdvisor
    needs a Docker engine: CADVISOR_PANELS are answered from tests/fixtures/cadvisor_metrics.prom
    (a hand-written exposition in cAdvisor's format, served as the `cadvisor-fixture` job), so
    they are parsed and evaluated by the real Prometheus, on fixture data; the test checks that
    exactly those panels read container_* metrics;
(c) the drift alerts fire, reach the webhook receiver through Alertmanager with their links,
    and resolve after clean traffic.
The panels are also drawn to PNG from this Prometheus (tools/screenshots/grafana_panels.py).
"""

from __future__ import annotations

import math
import shutil
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from app.observability import dashboards, drill
from app.observability.config import REPO
from app.observability.prom import Prometheus, label_values_query
from app.panel import status
from app.settings import Settings
from app.snapshots.store import stable_id
from app.stack.local import LocalStack, StackOptions, isolated_settings
from app.stack.services import BINARY_SERVICES, VENTWATCH_SERVICES
from tests.conftest import require
from tests.fixtures import cadvisor
from tools.screenshots import grafana_panels
from tools.screenshots.browser import available as chromium_available

pytestmark = pytest.mark.slow

SCRAPE_S = drill.TIMING.scrape_interval.total_seconds() if drill.TIMING.scrape_interval else 15.0
STEP_S = 1.0
STARTED = ("api", "snapshots", "alert-receiver", "node-exporter", "alertmanager", "prometheus")
# The only panels whose queries read cAdvisor's metrics (answered from the fixture).
CADVISOR_PANELS = {("ventwatch-api", 11), ("ventwatch-api", 12)}
DRIFT_ALERTS = drill.DRIFT_ALERTS
T = TypeVar("T")


@dataclass
class Stack:
    settings: Settings
    prom: Prometheus
    started_at: float
    drifted_at: float
    root: Path
    project_id: str


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 120.0, every: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def firing(prom: Prometheus) -> set[str]:
    return {a["labels"]["alertname"] for a in prom.firing()}


def received(settings: Settings) -> dict[str, dict[str, Any]]:
    """Alert receiver's newest record per alert name."""
    alerts = httpx.get(f"{settings.alerts_url}/alerts", timeout=10).json()["alerts"]
    out: dict[str, dict[str, Any]] = {}
    for a in alerts:
        out.setdefault(a["alertname"], a)
    return out


@pytest.fixture(scope="module")
def stack(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for b in BINARY_SERVICES:
        require(any(shutil.which(n) for n in b.binaries), f"{b.binaries[0]} (Debian package)")
    root = tmp_path_factory.mktemp("observability")
    settings = isolated_settings(root, model_dir, grafana_url="http://grafana.test:3000",
                                 ui_url="http://evidently.test:8001", **drill.SETTINGS)
    with cadvisor.serving() as fixture:
        local = LocalStack(settings, StackOptions(
            only=frozenset(STARTED), timing=drill.TIMING, extra_scrape_jobs=(cadvisor.scrape_job(fixture),),
            prometheus_flags=drill.PROMETHEUS_FLAGS))
        started_at = time.time()
        plan = local.start()
        assert sorted(p.name for p in plan if p.spec) == sorted(STARTED)
        prom = Prometheus(settings.prometheus_url)
        try:
            drill.drift(settings.api_url)
            drifted_at = time.time()
            wait_for("the drift alerts to fire", lambda: firing(prom) >= DRIFT_ALERTS, timeout=180)
            info = prom.query("ventwatch_snapshot_info")
            project_id = info[0].labels["project_id"]
            assert project_id == stable_id("project", info[0].labels["project"])
            yield Stack(settings, prom, started_at, drifted_at, root, project_id)
        finally:
            prom.close()
            local.stop()


def test_every_target_is_up(stack: Stack) -> None:
    targets = stack.prom.targets()
    jobs = {t["labels"]["job"]: t for t in targets}
    assert set(jobs) == {"api", "snapshots", "alert-receiver", "node", "alertmanager", "prometheus",
                         cadvisor.JOB}
    down = {job: t["lastError"] for job, t in jobs.items() if t["health"] != "up"}
    assert not down, down


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    end = time.time()
    builtins = {"__rate_interval": dashboards.rate_interval(SCRAPE_S, STEP_S)}

    def values(query: str) -> list[str]:
        metric, label = label_values_query(query)
        return stack.prom.label_values(label, metric)

    failures, checked, cadvisor_only = [], 0, set()
    for d in dashboards.DASHBOARDS:
        for q in dashboards.queries(dashboards.load(d), builtins, values):
            checked += 1
            if any(m in q.expr for m in cadvisor.CADVISOR_METRICS):
                cadvisor_only.add((q.dashboard, q.panel_id))
            try:
                if q.instant:
                    series = stack.prom.query(q.expr, at=end)
                else:
                    series = stack.prom.query_range(q.expr, stack.started_at, end, STEP_S)
            except Exception as exc:  # a parse or evaluation error, reported with the others
                failures.append(f"{q.dashboard}/{q.panel_id} {q.panel!r} {q.ref}: {exc}")
                continue
            if not any(s.finite() for s in series):
                failures.append(f"{q.dashboard}/{q.panel_id} {q.panel!r} {q.ref}: no finite value "
                                f"({len(series)} series) for {q.expr}")
    assert not failures, "\n".join(failures)
    assert cadvisor_only == CADVISOR_PANELS
    # Every feature of the model got its own input heatmap.
    features = stack.prom.label_values("feature", "ventwatch_input_missing_total")
    assert len(features) == 8 and "co2_ppm" in features
    panels = sum(1 for d in dashboards.DASHBOARDS for p in d.panels() for _ in p.targets)
    assert checked == panels - 1 + len(features)  # the repeated heatmap once per feature


def test_drift_alert_reaches_the_receiver_with_links(stack: Stack) -> None:
    got = wait_for("the receiver to record the drift alerts",
                   lambda: (r := received(stack.settings)) and set(r) >= DRIFT_ALERTS and r, timeout=60)
    share = got["DataDriftShareHigh"]
    assert share["status"] == "firing" and share["severity"] == "warning"
    assert share["receiver"] == "ventwatch-warning"  # routed by severity
    notes = share["annotations"]
    assert notes["dashboard"] == "http://grafana.test:3000/d/ventwatch-ml/ml-model?viewPanel=7"
    assert notes["evidently"] == f"http://evidently.test:8001/projects/{stack.project_id}"
    assert "of the model's input features drift" in notes["summary"]
    assert not {"grafana_url", "evidently_url"} & set(share["labels"])  # links are not labels
    key = got["KeyFeatureDrift"]
    assert key["labels"]["feature"] == "co2_ppm" and key["status"] == "firing"
    # What the drill shifted is what the snapshot service says drifted.
    drifted = {s.labels["feature"] for s in stack.prom.query("ventwatch_feature_drift_detected == 1")}
    assert set(drill.DRIFTING) <= drifted
    assert stack.prom.query("ventwatch_drift_share >= ventwatch_drift_share_threshold")
    # The control panel's Status page lists what the receiver got, and Alertmanager's view.
    with status.client(stack.settings.alerts_url) as http:
        notes = status.received_alerts(http)
    assert notes.ok and {n.name for n in notes.data if n.status == "firing"} >= DRIFT_ALERTS
    with status.client(stack.settings.alertmanager_url) as http:
        firing = status.firing_alerts(http)
    assert firing.ok and {a.name for a in firing.data} >= DRIFT_ALERTS


def test_compose_healthchecks_answer_on_the_local_services(stack: Stack) -> None:
    """The URL path of each compose healthcheck answers 200 on the process `ventwatch up` starts."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    s = stack.settings
    local = {"api": s.api_url, "snapshots": s.snapshots_url, "alert-receiver": s.alerts_url,
             "prometheus": s.prometheus_url, "alertmanager": s.alertmanager_url,
             "node-exporter": s.node_exporter_url}
    for name, base in local.items():
        url = compose[name]["healthcheck"]["test"][-1]
        path = "/" + url.split("/", 3)[3]
        assert httpx.get(base + path, timeout=10).status_code == 200, (name, path)
    assert {svc.name for svc in VENTWATCH_SERVICES if not svc.one_shot} - set(local) == \
        {"evidently-ui", "control-panel"}  # started and checked by tests/test_up.py


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_panels_render_to_png_from_this_prometheus(stack: Stack, tmp_path: Path) -> None:
    require(chromium_available(), "chromium (Debian package chromium)")
    notes = {key: "cAdvisor fixture data" for key in CADVISOR_PANELS}
    rendered = grafana_panels.render(stack.settings.prometheus_url, tmp_path, stack.started_at, time.time(),
                                     STEP_S, SCRAPE_S, notes=notes)
    files = rendered.files
    features = len(stack.prom.label_values("feature", "ventwatch_input_missing_total"))
    panels = sum(1 for d in dashboards.DASHBOARDS for p in d.panels()) - 1 + features
    assert len(files) == len(dashboards.DASHBOARDS) + panels
    for path in files:
        width, height = png_size(path)
        assert width > 100 and height > 50, path
    # Nothing is drawn as "No data": the same promise as the query test, seen on the page.
    assert rendered.empty == []
    assert not list(tmp_path.glob("*.html"))


def test_drift_alerts_resolve_after_clean_traffic(stack: Stack) -> None:
    """Last in this module: clean hours after the drift make the latest window clean again."""
    drill.recover(stack.settings.api_url, first_hour=6)
    wait_for("the drift alerts to resolve in Prometheus", lambda: not DRIFT_ALERTS & firing(stack.prom),
             timeout=180)
    got = wait_for("the receiver to record the resolution",
                   lambda: (r := received(stack.settings)) and all(r[a]["status"] == "resolved"
                                                                   for a in DRIFT_ALERTS) and r, timeout=60)
    assert got["DataDriftShareHigh"]["ends_at"] > got["DataDriftShareHigh"]["starts_at"]
    share = stack.prom.query("ventwatch_drift_share")[0].points[-1][1]
    threshold = stack.prom.query("ventwatch_drift_share_threshold")[0].points[-1][1]
    assert math.isfinite(share) and share < threshold
    history = httpx.get(f"{stack.settings.alerts_url}/alerts/history", params={"limit": 1000},
                        timeout=10).json()["records"]
    statuses = [r["status"] for r in reversed(history) if r["alertname"] == "KeyFeatureDrift"]
    assert statuses[0] == "firing" and statuses[-1] == "resolved"
