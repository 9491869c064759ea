"""The control panel: every page, driven in the browser on the demo stack with its API running."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from app import procs
from app.panel.snapshots import settings_env
from tools.screenshots.browser import browser
from tools.screenshots.demo import Demo

WIDTH = 1400


def _fit(page: Any) -> None:
    """Grow the viewport to the page's content: Streamlit scrolls inside its own container."""
    page.wait_for_timeout(500)
    height = page.evaluate(
        "() => Math.max(...['stMain', 'stAppViewContainer'].map(id => "
        "document.querySelector(`[data-testid=\"${id}\"]`)?.scrollHeight || 0), document.body.scrollHeight)")
    page.set_viewport_size({"width": WIDTH, "height": int(height) + 40})
    page.wait_for_timeout(1500)  # plotly redraws at the new size


def _shot(page: Any, path: Path) -> Path:
    _fit(page)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    return path


def _goto(page: Any, title: str) -> None:
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title).wait_for(timeout=30_000)
    page.wait_for_load_state("networkidle")


def shoot(demo: Demo, out: Path) -> list[Path]:
    api = demo.api.start()
    port = procs.free_port()
    env = {**settings_env(demo.settings), "VENTWATCH_API_URL": api.url}
    panel = procs.start([str(procs.VENV_BIN / "ventwatch"), "panel", "--port", str(port)], port,
                        demo.root / "panel.log", env, ready_path="/_stcore/health")
    files: list[Path] = []
    try:
        with browser() as b:
            page = b.new_page(viewport={"width": WIDTH, "height": 1000})
            page.goto(panel.url, wait_until="networkidle")
            page.get_by_role("heading", name="Drift lab").wait_for(timeout=30_000)
            # The CO2 offset preset, its sliders open.
            page.get_by_role("combobox", name="Preset").click()
            page.get_by_role("option", name="co2-offset — CO2 sensor offset +400 ppm").click()
            page.get_by_text("co2_ppm: +400 ppm").wait_for(timeout=30_000)
            page.get_by_text("co2_ppm (ppm)").first.click()
            page.wait_for_selector(".js-plotly-plot", timeout=30_000)
            files.append(_shot(page, out / "panel-drift-lab.png"))

            _goto(page, "Replay")
            page.get_by_text("readings", exact=True).click()
            count = page.get_by_role("spinbutton", name="Readings", exact=True)
            count.fill("6000")
            count.press("Enter")
            page.get_by_text("6,000 readings").wait_for(timeout=30_000)
            page.get_by_role("button", name="Start replay").click()
            page.get_by_text("Replay finished").first.wait_for(timeout=120_000)
            page.wait_for_timeout(1500)  # the page reruns once the replay is done
            files.append(_shot(page, out / "panel-replay.png"))

            _goto(page, "Labels")
            page.get_by_role("button", name="Submit labels").click()
            page.get_by_text("Last submission").wait_for(timeout=120_000)
            files.append(_shot(page, out / "panel-labels.png"))

            _goto(page, "Snapshots")
            page.get_by_role("button", name="Run the snapshot job now").click()
            page.get_by_text("Snapshot job done").wait_for(timeout=300_000)
            page.wait_for_selector(".js-plotly-plot", timeout=30_000)
            time.sleep(1)
            files.append(_shot(page, out / "panel-snapshots.png"))

            _goto(page, "Status")
            files.append(_shot(page, out / "panel-status.png"))
    finally:
        panel.stop()
        api.stop()
    return files
