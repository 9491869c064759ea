"""Section `grafana`: both dashboards drawn from a Prometheus that watched the drift drill.

Starts API, snapshot service, alert receiver, node-exporter, Alertmanager and Prometheus
(the `ventwatch up` code, 1 s scrapes) next to the demo, runs the drift drill, waits until
the drift alerts fire, and renders every panel (tools/screenshots/grafana_panels.py).
Container panels show tests/fixtures/cadvisor_metrics.prom (cAdvisor needs Docker) and say so.
"""

from __future__ import annotations

import time
from pathlib import Path

from app.observability import drill
from app.observability.prom import Prometheus
from app.stack.local import LocalStack, StackOptions, isolated_settings
from tests.fixtures import cadvisor
from tools.screenshots import grafana_panels
from tools.screenshots.demo import Demo

SERVICES = ("api", "snapshots", "alert-receiver", "node-exporter", "alertmanager", "prometheus")
CADVISOR_PANELS = {("ventwatch-api", 11), ("ventwatch-api", 12)}


def shoot(demo: Demo, out: Path) -> list[Path]:
    settings = isolated_settings(demo.root / "observability", demo.settings.model_dir, **drill.SETTINGS)
    with cadvisor.serving() as fixture:
        stack = LocalStack(settings, StackOptions(
            only=frozenset(SERVICES), timing=drill.TIMING, extra_scrape_jobs=(cadvisor.scrape_job(fixture),),
            prometheus_flags=drill.PROMETHEUS_FLAGS))
        start = time.time()
        stack.start()
        prom = Prometheus(settings.prometheus_url)
        try:
            drill.drift(settings.api_url)
            deadline = time.monotonic() + 180
            while not {a["labels"]["alertname"] for a in prom.firing()} >= drill.DRIFT_ALERTS:
                if time.monotonic() > deadline:
                    raise RuntimeError("the drift alerts did not fire within 3 minutes")
                time.sleep(1)
            time.sleep(10)  # a little history after the alerts fired
            notes = {key: "cAdvisor fixture data" for key in CADVISOR_PANELS}
            scrape = drill.TIMING.scrape_interval.total_seconds() if drill.TIMING.scrape_interval else 15
            rendered = grafana_panels.render(settings.prometheus_url, out, start, time.time(), step=scrape,
                                             scrape_interval=scrape, notes=notes)
            for title in rendered.empty:
                print(f"no data: {title}")
            return rendered.files
        finally:
            prom.close()
            stack.stop()
