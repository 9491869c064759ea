"""prometheus.yml, alert_rules.yml and alertmanager.yml, rendered for processes on 127.0.0.1.

The files at the top of the repository are written for docker compose (targets are service
names) and are the only copies. For `ventwatch up` and the tests they are rendered here,
changing only what differs between the two environments: scrape and Alertmanager
addresses, the rule file's path, the links in the external labels, the receiver URL; jobs
with nothing to scrape locally are left out (cAdvisor needs Docker). Tests may also ask for
shorter intervals. tests/test_prometheus_config.py checks that nothing else differs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from app.durations import format_duration
from app.settings import Settings

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = REPO / "prometheus.yml"
RULES_YML = REPO / "alert_rules.yml"
ALERTMANAGER_YML = REPO / "alertmanager.yml"

# Where compose's Alertmanager sends notifications: the alert-receiver service.
COMPOSE_RECEIVER = "http://alert-receiver:8003"
# Jobs of prometheus.yml that have no local process, and why.
COMPOSE_ONLY_JOBS = {"cadvisor": "cAdvisor runs only as a container next to the Docker engine"}
# External labels (links in alert annotations) and the setting that holds each locally.
LINK_LABELS = {"grafana_url": "grafana_url", "evidently_url": "ui_url"}


@dataclass(frozen=True)
class Timing:
    """Intervals that differ from the files' (tests compress minutes into seconds)."""

    scrape_interval: timedelta | None = None
    evaluation_interval: timedelta | None = None
    rule_for: timedelta | None = None  # every rule's `for`
    group_wait: timedelta | None = None
    group_interval: timedelta | None = None
    repeat_interval: timedelta | None = None


@dataclass(frozen=True)
class LocalConfig:
    prometheus: Path
    rules: Path
    alertmanager: Path


def address(url: str) -> str:
    """host:port of a URL."""
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise ValueError(f"{url!r}: give a URL with host and port, e.g. http://127.0.0.1:9090")
    return f"{parts.hostname}:{parts.port}"


def reachable(host: str, port: int) -> str:
    """host:port to connect to for a server bound to `host` (a wildcard bind answers on 127.0.0.1)."""
    return f"{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"


def local_targets(settings: Settings, with_node_exporter: bool = True) -> dict[str, str | None]:
    """Scrape address per job of prometheus.yml; None: no such process here."""
    return {
        "api": reachable(settings.host, settings.port),
        "snapshots": reachable(settings.snapshot_host, settings.snapshot_port),
        "alert-receiver": reachable(settings.alerts_host, settings.alerts_port),
        "node": address(settings.node_exporter_url) if with_node_exporter else None,
        "alertmanager": address(settings.alertmanager_url),
        "prometheus": address(settings.prometheus_url),
        **{job: None for job in COMPOSE_ONLY_JOBS},
    }


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return data


def _duration(value: timedelta) -> str:
    return format_duration(value)


def render_prometheus(settings: Settings, rules: Path, *, with_node_exporter: bool = True,
                      with_alertmanager: bool = True, timing: Timing = Timing(),
                      extra_jobs: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """prometheus.yml with local addresses; `extra_jobs` are appended as they are."""
    config = _load(PROMETHEUS_YML)
    targets = local_targets(settings, with_node_exporter)
    jobs = []
    for job in config["scrape_configs"]:
        name = job["job_name"]
        if name not in targets:
            raise ValueError(f"prometheus.yml job {name!r} has no local address: "
                             "add it to local_targets() in app/observability/config.py")
        if targets[name] is None:
            continue
        if not with_alertmanager and name == "alertmanager":
            continue
        job["static_configs"] = [{"targets": [targets[name]]}]
        jobs.append(job)
    config["scrape_configs"] = jobs + [dict(j) for j in extra_jobs]
    config["rule_files"] = [str(rules)]
    if with_alertmanager:
        config["alerting"]["alertmanagers"] = [
            {"static_configs": [{"targets": [address(settings.alertmanager_url)]}]}]
    else:
        del config["alerting"]
    labels = config["global"].get("external_labels", {})
    for label, setting in LINK_LABELS.items():
        if label in labels:
            labels[label] = str(getattr(settings, setting)).rstrip("/")
    if timing.scrape_interval is not None:
        config["global"]["scrape_interval"] = _duration(timing.scrape_interval)
        timeout = min(timing.scrape_interval, timedelta(seconds=10))
        config["global"]["scrape_timeout"] = _duration(timeout)
    if timing.evaluation_interval is not None:
        config["global"]["evaluation_interval"] = _duration(timing.evaluation_interval)
    return config


def render_rules(timing: Timing = Timing()) -> dict[str, Any]:
    """alert_rules.yml, with every `for` replaced when `timing.rule_for` is set."""
    rules = _load(RULES_YML)
    if timing.rule_for is not None:
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rule["for"] = _duration(timing.rule_for)
    return rules


def render_alertmanager(settings: Settings, timing: Timing = Timing()) -> dict[str, Any]:
    """alertmanager.yml sending to the local alert receiver."""
    config = _load(ALERTMANAGER_YML)
    receiver = settings.alerts_url.rstrip("/")
    for entry in config["receivers"]:
        for webhook in entry.get("webhook_configs", []):
            url = webhook["url"]
            if not url.startswith(COMPOSE_RECEIVER + "/"):
                raise ValueError(f"alertmanager.yml webhook {url!r} is not the alert receiver "
                                 f"({COMPOSE_RECEIVER}); render_alertmanager() cannot localise it")
            webhook["url"] = receiver + url[len(COMPOSE_RECEIVER):]
    routes = [config["route"], *config["route"].get("routes", [])]
    for route in routes:
        for key in ("group_wait", "group_interval", "repeat_interval"):
            value = getattr(timing, key)
            if value is not None and (route is config["route"] or key in route):
                route[key] = _duration(value)
    return config


def write_local(settings: Settings, out: Path, *, with_node_exporter: bool = True,
                with_alertmanager: bool = True, timing: Timing = Timing(),
                extra_jobs: Iterable[Mapping[str, Any]] = ()) -> LocalConfig:
    """Write the three files for 127.0.0.1 into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = LocalConfig(out / "prometheus.yml", out / "alert_rules.yml", out / "alertmanager.yml")
    header = ("# Rendered by ventwatch from {} for processes on this machine; edit the source,\n"
              "# not this file (`ventwatch render-config` rewrites it).\n")
    documents = (
        (paths.prometheus, PROMETHEUS_YML, render_prometheus(
            settings, paths.rules, with_node_exporter=with_node_exporter,
            with_alertmanager=with_alertmanager, timing=timing, extra_jobs=extra_jobs)),
        (paths.rules, RULES_YML, render_rules(timing)),
        (paths.alertmanager, ALERTMANAGER_YML, render_alertmanager(settings, timing)),
    )
    for path, source, document in documents:
        text = header.format(source) + yaml.safe_dump(copy.deepcopy(document), sort_keys=False,
                                                      width=120, allow_unicode=True)
        path.write_text(text)
    return paths
