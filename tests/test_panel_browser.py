"""The panel in a real browser: `ventwatch panel` on a free port, Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require

from app import procs
from app.log.reader import read_predictions
from app.model.bundle import ModelBundle
from app.replay import preview
from app.replay.scenarios import FeatureDrift, ReferenceStats, Scenario

CHROMIUM = os.environ.get("VENTWATCH_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying hosts this machine cannot reach.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def panel(api_factory: procs.ApiFactory, model_dir: Path) -> Iterator[tuple[procs.Server, procs.Server]]:
    """A real API and `ventwatch panel` pointed at it, both on 127.0.0.1."""
    api = api_factory.start()
    root = api_factory.root
    port = procs.free_port()
    env = {"VENTWATCH_MODEL_DIR": str(model_dir), "VENTWATCH_API_URL": api.url,
           "VENTWATCH_LOG_DIR": str(api_factory.log_dir), "VENTWATCH_RUN_DIR": str(root / "run"),
           "VENTWATCH_WORKSPACE_DIR": str(root / "workspace"), "VENTWATCH_LOG_FLUSH_SECONDS": "0.5",
           "VENTWATCH_PROMETHEUS_URL": f"http://127.0.0.1:{procs.free_port()}",
           "VENTWATCH_ALERTMANAGER_URL": f"http://127.0.0.1:{procs.free_port()}"}
    server = procs.start([str(procs.VENV_BIN / "ventwatch"), "panel", "--port", str(port)], port,
                         root / "panel.log", env, ready_path="/_stcore/health")
    try:
        yield api, server
    finally:
        server.stop()


def test_move_a_slider_and_replay_in_the_browser(panel: tuple[procs.Server, procs.Server],
                                                  api_factory: procs.ApiFactory, model_dir: Path) -> None:
    require(os.path.exists(CHROMIUM), f"Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright  # a dev dependency: present wherever tests run

    _, server = panel
    bundle = ModelBundle.load(model_dir, with_model=False)
    reference = bundle.reference()
    stats = ReferenceStats.of(reference, bundle.schema)

    def co2_mean(scenario: Scenario) -> float:
        """The injected CO2 mean the Drift lab's preview shows for `scenario`."""
        shown = preview.build(bundle.schema, bundle.policy, reference, stats, scenario)
        mean = next(d for d in shown.distributions if d.feature == "co2_ppm").injected_mean
        assert mean is not None
        return mean

    co2 = {"clean": co2_mean(Scenario(name="clean")),
           "shifted": co2_mean(Scenario(name="x", features={"co2_ppm": FeatureDrift(shift=400.0)}))}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server.url, wait_until="networkidle")
            page.get_by_role("heading", name="Drift lab").wait_for(timeout=30_000)
            page.get_by_text(f"mean {co2['clean']:,.0f} → {co2['clean']:,.0f}").wait_for(timeout=30_000)

            # Move the CO2 shift slider with the keyboard, as a user would, step by step to +400 ppm.
            page.get_by_text("co2_ppm (ppm)").first.click()
            thumb = page.get_by_role("slider", name="shift (ppm)")
            thumb.focus()
            for _ in range(1000):
                if float(thumb.get_attribute("aria-valuetext") or 0) >= 400:
                    break
                page.keyboard.press("ArrowRight")
            page.get_by_text("co2_ppm: +400 ppm").wait_for(timeout=30_000)
            # The preview redraws: the injected CO2 mean moved by the shift.
            page.get_by_text(f"mean {co2['clean']:,.0f} → {co2['shifted']:,.0f}").wait_for(timeout=30_000)
            assert page.get_by_role("textbox", name="Scenario tag").input_value() == "custom"

            page.get_by_role("link", name="Replay").click()
            page.get_by_role("heading", name="Replay").wait_for(timeout=30_000)
            page.get_by_text("readings", exact=True).click()
            count = page.get_by_role("spinbutton", name="Readings", exact=True)
            count.fill("3000")
            count.press("Enter")
            rate = page.get_by_role("spinbutton", name="Rate (readings per second)")
            rate.fill("2000")
            rate.press("Enter")
            page.get_by_text(re.compile(r"3,000 readings")).wait_for(timeout=30_000)
            page.get_by_role("button", name="Start replay").click()
            finished = page.get_by_text("Replay finished: 3,000 predictions logged with scenario")
            finished.wait_for(timeout=90_000)
            start = page.get_by_role("button", name="Start replay")
            deadline = time.monotonic() + 30
            while not start.is_enabled() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert start.is_enabled()
        finally:
            browser.close()
    deadline = time.monotonic() + 20
    while True:
        log = read_predictions(api_factory.log_dir, scenario="custom")
        if len(log) >= 3000 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(log) == 3000 and log.co2_ppm.min() >= 400
