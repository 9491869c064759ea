"""The panel's own code path against a real API: replay a scenario, label it, check the prediction log."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_panel import APP, panel_env, texts  # noqa: F401 (fixture)

from app import procs
from app.log.reader import read_predictions
from app.replay import ledger
from app.settings import get_settings


def run_until(at: AppTest, done: str, timeout: float = 90.0) -> AppTest:
    """Rerun the script (the browser's fragment timer does this live) until session state `done` is set."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if at.session_state[done] is not None:
            return at.run()
        time.sleep(0.3)
    raise AssertionError(f"{done} not set after {timeout} s")


def test_replay_and_labels_from_the_panel_reach_the_log(panel_env: dict[str, str],  # noqa: F811
                                                        api_factory: procs.ApiFactory,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    api = api_factory.start()
    monkeypatch.setenv("VENTWATCH_API_URL", api.url)
    monkeypatch.setenv("VENTWATCH_LOG_DIR", str(api_factory.log_dir))
    get_settings.cache_clear()
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.selectbox(key="drift_preset").set_value("co2-offset").run()
    at.slider(key="drift_missing_share_humidity_pct").set_value(0.1).run()  # a custom variant
    at.text_input(key="drift_tag").input("panel-co2").run()

    at.switch_page("pages/replay.py").run()
    assert not at.warning, texts(at.warning)  # the API is up
    at.number_input(key="replay_rate").set_value(3000.0).run()
    at.select_slider(key="replay_compression").set_value(1800).run()
    at.number_input(key="replay_minutes").set_value(90.0).run()
    plan = texts(at.info)[0]
    assert "**9,000 readings**" in plan and "(0.6 s apart)" in plan
    at.button(key="replay_start_button").click().run()
    assert at.session_state["replay_job"] is not None
    run_until(at, "last_replay")
    result = at.session_state["last_replay"]
    progress = result.progress
    shown = {m.label: m.value for m in at.metric}
    assert shown["sent"] == shown["acknowledged"] == "9,000" and shown["rejected"] == shown["errors"] == "0"
    assert any("Replay finished: 9,000 predictions logged with scenario **panel-co2**" in s
               for s in texts(at.success))

    at.switch_page("pages/labels.py").run()
    assert at.radio(key="labels_target").value == "last replay"
    at.slider(key="labels_coverage").set_value(0.6).run()
    at.number_input(key="labels_delay").set_value(30.0).run()
    at.slider(key="labels_noise").set_value(0.05).run()
    at.button(key="labels_submit").click().run()
    assert not at.error, texts(at.error)
    report = at.session_state["label_report"]
    shown = {m.label: m.value for m in at.metric}
    assert shown["predictions in range"] == "9,000" and shown["labels accepted"] == f"{report.accepted:,}"
    assert shown["label coverage now"] == f"{report.coverage:.1%}"
    # A third of the 90 minutes is too recent for a 30-minute delay; 60 % of the rest is labelled.
    assert report.too_recent == 3000 and report.accepted == 3600 and report.flipped == 180

    # The log agrees with what the panel reported.
    log_dir = api_factory.log_dir
    deadline = time.monotonic() + 20
    while True:
        log = read_predictions(log_dir, result.start, result.end)
        if log.label.notna().sum() >= report.accepted or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(log) == progress.acknowledged == 9000
    assert set(log.scenario) == {"panel-co2"}
    start, end = pd.Timestamp(result.start), pd.Timestamp(result.end)
    assert start <= log.measured_at.min() <= log.measured_at.max() < end
    assert log.label.notna().sum() == report.accepted
    assert log.label.notna().mean() == pytest.approx(report.coverage)
    assert log[log.label.notna()].measured_at.max() <= pd.Timestamp(report.cutoff)
    assert report.cutoff == report.as_of - timedelta(minutes=30)
    assert 0.05 < log.humidity_pct.isna().mean() < 0.15
    truth = ledger.truth_for(Path(panel_env["VENTWATCH_RUN_DIR"]), log.prediction_id.tolist())
    labelled = log[log.label.notna()]
    assert (labelled.label.astype(int) != labelled.prediction_id.map(truth)).sum() == report.flipped

    # Later, by time range and tag: the rest gets its labels (nothing is labelled twice).
    at.radio(key="labels_target").set_value("time range").run()
    at.text_input(key="labels_start").input(result.start.isoformat()).run()
    at.text_input(key="labels_end").input(result.end.isoformat()).run()
    at.text_input(key="labels_scenario").input("panel-co2").run()
    at.slider(key="labels_coverage").set_value(1.0).run()
    at.number_input(key="labels_delay").set_value(0.0).run()
    at.button(key="labels_submit").click().run()
    assert not at.error, texts(at.error)
    rest = at.session_state["label_report"]
    assert rest.already_labelled == 3600 and rest.accepted == 5400 and rest.rejected == {}
    assert rest.coverage == 1.0
    assert {m.label: m.value for m in at.metric}["label coverage now"] == "100.0%"
