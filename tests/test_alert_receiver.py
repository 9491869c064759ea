"""`ventwatch alert-receiver` as a real server: records Alertmanager's payloads, serves /alerts."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import procs
from app.alerts.store import ALERTS_FILE, AlertStore, WebhookPayload, records_of


def payload(status: str, *alerts: tuple[str, str, str],
            receiver: str = "ventwatch-warning") -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) for (alertname, severity, fingerprint) triples."""
    return {
        "version": "4", "groupKey": "{}:{alertname=\"x\"}", "truncatedAlerts": 0, "status": status,
        "receiver": receiver, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [{"status": status, "labels": {"alertname": name, "severity": severity, "job": "snapshots"},
                    "annotations": {"summary": f"{name} summary", "dashboard": "http://g/d/x?viewPanel=7"},
                    "startsAt": "2026-11-26T10:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-26T10:05:00Z",
                    "generatorURL": "http://127.0.0.1:9090/graph", "fingerprint": fp}
                   for name, severity, fp in alerts],
    }


def start(run_dir: Path, log: Path) -> procs.Server:
    port = procs.free_port()
    return procs.start([str(procs.VENV_BIN / "ventwatch"), "alert-receiver", "--port", str(port)], port, log,
                       {"VENTWATCH_RUN_DIR": str(run_dir)})


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[procs.Server]:
    server = start(tmp_path / "run", tmp_path / "receiver.log")
    try:
        yield server
    finally:
        server.stop()


def test_records_firing_then_resolved_and_serves_the_latest_state(receiver: procs.Server,
                                                                   tmp_path: Path) -> None:
    fire = payload("firing", ("DataDriftShareHigh", "warning", "aa01"),
                   ("KeyFeatureDrift", "warning", "bb02"))
    r = httpx.post(f"{receiver.url}/webhook", json=fire, timeout=10)
    assert r.status_code == 200 and r.json() == {"recorded": 2}
    critical = payload("firing", ("ApiDown", "critical", "cc03"), receiver="ventwatch-critical")
    assert httpx.post(f"{receiver.url}/webhook", json=critical, timeout=10).status_code == 200
    resolve = payload("resolved", ("KeyFeatureDrift", "warning", "bb02"))
    assert httpx.post(f"{receiver.url}/webhook", json=resolve, timeout=10).status_code == 200

    state = httpx.get(f"{receiver.url}/alerts", timeout=10).json()
    assert state["firing"] == 2
    by_name = {a["alertname"]: a for a in state["alerts"]}
    assert by_name["KeyFeatureDrift"]["status"] == "resolved"
    assert by_name["DataDriftShareHigh"]["annotations"]["summary"] == "DataDriftShareHigh summary"
    assert by_name["ApiDown"]["receiver"] == "ventwatch-critical"
    assert [a["status"] for a in state["alerts"]] == ["firing", "firing", "resolved"]  # firing first
    firing = httpx.get(f"{receiver.url}/alerts", params={"status": "firing"}, timeout=10).json()
    assert {a["alertname"] for a in firing["alerts"]} == {"DataDriftShareHigh", "ApiDown"}
    history = httpx.get(f"{receiver.url}/alerts/history", params={"limit": 2}, timeout=10).json()
    assert [(r["alertname"], r["status"]) for r in history["records"]] == [
        ("KeyFeatureDrift", "resolved"), ("ApiDown", "firing")]

    metrics = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(httpx.get(f"{receiver.url}/metrics").text)
               for s in f.samples}
    warnings = ("ventwatch_alert_notifications_total", (("severity", "warning"), ("status", "firing")))
    assert metrics[warnings] == 2
    assert metrics[("ventwatch_alerts_firing", (("severity", "critical"),))] == 1
    assert ("process_resident_memory_bytes", ()) in metrics

    # Every notification is on disk, one JSON line per alert.
    lines = (tmp_path / "run" / ALERTS_FILE).read_text().splitlines()
    assert [json.loads(line)["alertname"] for line in lines] == [
        "DataDriftShareHigh", "KeyFeatureDrift", "ApiDown", "KeyFeatureDrift"]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    first = start(tmp_path / "run", tmp_path / "a.log")
    try:
        body = payload("firing", ("ApiDown", "critical", "cc03"))
        httpx.post(f"{first.url}/webhook", json=body, timeout=10)
    finally:
        assert first.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    second = start(tmp_path / "run", tmp_path / "b.log")
    try:
        alerts = httpx.get(f"{second.url}/alerts", timeout=10).json()["alerts"]
    finally:
        second.stop()
    assert [(a["alertname"], a["status"]) for a in alerts] == [("ApiDown", "firing")]


def test_rejects_what_is_not_an_alertmanager_payload(receiver: procs.Server) -> None:
    r = httpx.post(f"{receiver.url}/webhook", json={"alerts": "nope"}, timeout=10)
    assert r.status_code == 422
    assert httpx.get(f"{receiver.url}/alerts", timeout=10).json() == {"alerts": [], "firing": 0}


def test_the_file_stays_bounded(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / ALERTS_FILE, keep=10)
    for i in range(25):
        status = "firing" if i % 2 == 0 else "resolved"
        store.add(records_of(WebhookPayload.model_validate(
            payload(status, ("A", "warning", f"f{i % 3}")))))
    assert len((tmp_path / ALERTS_FILE).read_text().splitlines()) <= 20
    reopened = AlertStore(tmp_path / ALERTS_FILE, keep=10)
    assert len(reopened.history(100)) == 10
    assert [(r.fingerprint, r.status) for r in reopened.current()] == \
        [(r.fingerprint, r.status) for r in store.current()]
