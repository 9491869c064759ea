"""The Evidently UI: the project dashboard and one window's report page."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from app import procs
from tools.screenshots.browser import browser
from tools.screenshots.demo import Demo


def shoot(demo: Demo, out: Path) -> list[Path]:
    port = procs.free_port()
    ui = procs.start([str(procs.VENV_BIN / "ventwatch"), "ui", "--port", str(port)], port,
                     demo.root / "ui.log",
                     {"VENTWATCH_WORKSPACE_DIR": str(demo.settings.workspace_dir)},
                     ready_path="/api/version")
    files = []
    try:
        project = httpx.get(f"{ui.url}/api/projects", timeout=60).json()[0]["id"]
        snaps = httpx.get(f"{ui.url}/api/projects/{project}/snapshots", timeout=60).json()
        drifted = next(s for s in snaps if "alerting" in s["tags"] and s["metadata"]["scenarios"]
                       == "co2-offset")
        with browser() as b:
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{ui.url}/projects/{project}", wait_until="networkidle")
            page.wait_for_selector("text=Per-feature drift score", timeout=30_000)
            time.sleep(2)  # plot animations
            files.append(out / "evidently-dashboard.png")
            page.screenshot(path=str(files[-1]), full_page=True)
            page.goto(f"{ui.url}/projects/{project}/reports/{drifted['id']}",
                      wait_until="networkidle")
            time.sleep(3)
            files.append(out / "evidently-window-report.png")
            page.screenshot(path=str(files[-1]), full_page=False)
    finally:
        ui.stop()
    return files
