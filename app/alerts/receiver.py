"""`ventwatch alert-receiver`: Alertmanager's webhook target; GET /alerts for the control panel.

POST /webhook   Alertmanager webhook payload (version 4); every alert is appended to
                <run_dir>/alerts.jsonl before the 200, so a notification acknowledged is kept.
GET  /alerts    the newest state of each alert (`?status=firing` or `resolved` to filter)
GET  /alerts/history   notifications as received, newest first (`?limit=`)
GET  /health    liveness;  GET /metrics  notifications received, alerts firing
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Literal

from fastapi import FastAPI, Query, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.alerts.store import ALERTS_FILE, AlertStore, WebhookPayload, records_of
from app.settings import Settings

log = logging.getLogger(__name__)


class AlertCollector(Collector):
    """Counts read from the store at scrape time."""

    def __init__(self, store: AlertStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily("ventwatch_alert_notifications",
                                       "Alert notifications received from Alertmanager",
                                       labels=["status", "severity"])
        with self.store.lock:
            counts = dict(self.store.received)
        for (status, severity), n in sorted(counts.items()):
            received.add_metric([status, severity], n)
        yield received
        firing = GaugeMetricFamily("ventwatch_alerts_firing",
                                   "Alerts whose latest notification says firing",
                                   labels=["severity"])
        for severity, n in sorted(self.store.firing_by_severity().items()):
            firing.add_metric([severity], n)
        yield firing


def create_app(settings: Settings) -> FastAPI:
    store = AlertStore(settings.run_dir / ALERTS_FILE)
    registry = CollectorRegistry()
    registry.register(AlertCollector(store))
    ProcessCollector(registry=registry)
    app = FastAPI(title="ventwatch alert receiver", version="1",
                  summary="Records Alertmanager notifications for the control panel")
    app.state.store = store

    @app.post("/webhook", summary="Alertmanager webhook")
    def webhook(payload: WebhookPayload) -> dict[str, int]:
        recorded = store.add(records_of(payload))
        for alert in payload.alerts:
            log.info("%s %s %s", alert.status, alert.labels.get("alertname"),
                     alert.annotations.get("summary", ""))
        return {"recorded": recorded}

    @app.get("/alerts", summary="The newest state of each alert, firing first")
    def alerts(status: Literal["firing", "resolved"] | None = None) -> dict[str, object]:
        current = store.current(status)
        return {"alerts": store.as_json(current),
                "firing": sum(r.status == "firing" for r in current)}

    @app.get("/alerts/history", summary="Notifications as received, newest first")
    def history(limit: int = Query(100, ge=1, le=10_000)) -> dict[str, object]:
        return {"records": store.as_json(store.history(limit))}

    @app.get("/health", summary="Liveness")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def serve(settings: Settings, log_level: str = "info") -> None:
    import uvicorn

    log.info("alert receiver on http://%s:%d, recording to %s", settings.alerts_host,
             settings.alerts_port, settings.run_dir / ALERTS_FILE)
    uvicorn.run(create_app(settings), host=settings.alerts_host, port=settings.alerts_port,
                access_log=False, log_level=log_level)
