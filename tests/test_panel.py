"""The control panel through streamlit.testing.v1.AppTest: every page, the Drift lab's controls, the gate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from app import procs
from app.settings import get_settings
from tests import test_alert_receiver as alert_receiver

APP = Path(__file__).resolve().parent.parent / "control_panel" / "streamlit_app.py"
PAGES = ("drift_lab", "replay", "labels", "snapshots", "status")


def dead_url() -> str:
    return f"http://127.0.0.1:{procs.free_port()}"


@pytest.fixture
def panel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_dir: Path) -> Iterator[dict[str, str]]:
    """The panel's settings (VENTWATCH_*), every service down unless a test says otherwise."""
    env = {"VENTWATCH_MODEL_DIR": str(model_dir), "VENTWATCH_LOG_DIR": str(tmp_path / "logs"),
           "VENTWATCH_RUN_DIR": str(tmp_path / "run"), "VENTWATCH_WORKSPACE_DIR": str(tmp_path / "workspace"),
           "VENTWATCH_API_URL": dead_url(), "VENTWATCH_PROMETHEUS_URL": dead_url(),
           "VENTWATCH_ALERTMANAGER_URL": dead_url(), "VENTWATCH_ALERTS_URL": dead_url(),
           "VENTWATCH_LOG_FLUSH_SECONDS": "0.5"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("VENTWATCH_PANEL_PASSWORD", raising=False)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def start(env: dict[str, str] | None = None) -> AppTest:
    get_settings.cache_clear()
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def chart_means(at: AppTest) -> dict[tuple[str, str], Any]:
    """(feature, 'reference'|'injected') -> trace meta, from the Drift lab's plotly figure."""
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    data = json.loads(charts[0].proto.spec)["data"]
    return {(d["meta"]["feature"], d["meta"]["series"]): d["meta"] for d in data}


def next_readings(at: AppTest) -> list[dict[str, Any]]:
    """The Drift lab's table of the first readings a replay sends (AppTest exposes no dataframe keys)."""
    frame = next(df.value for df in at.dataframe if "measured_at" in df.value.columns)
    return [{k: (None if v != v else v) for k, v in row.items()}  # NaN (null in JSON) -> None
            for row in frame.to_dict(orient="records")]


def texts(elements: Any) -> list[str]:
    return [str(e.value) for e in elements]


def test_every_page_renders_and_says_when_services_are_down(panel_env: dict[str, str]) -> None:
    at = start()
    assert texts(at.title) == ["Drift lab"]
    for page in PAGES:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        if page in ("replay", "labels"):
            assert any("The prediction API is not available" in w for w in texts(at.warning)), page
    at.switch_page("pages/replay.py").run()
    assert at.button(key="replay_start_button").disabled
    at.switch_page("pages/status.py").run()
    errors = " ".join(texts(at.error))
    for service in ("The prediction API", "Prometheus", "Alertmanager", "Alert receiver"):
        assert f"{service}" in errors and "does not answer" in errors
    at.switch_page("pages/snapshots.py").run()
    assert any("No window snapshots" in i for i in texts(at.info))


def test_status_lists_the_notifications_a_real_receiver_got(panel_env: dict[str, str],
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    receiver = alert_receiver.start(tmp_path / "alerts-run", tmp_path / "receiver.log")
    try:
        for body in (alert_receiver.payload("firing", ("DataDriftShareHigh", "warning", "aa01")),
                     alert_receiver.payload("resolved", ("DataDriftShareHigh", "warning", "aa01"))):
            assert httpx.post(f"{receiver.url}/webhook", json=body, timeout=10).status_code == 200
        monkeypatch.setenv("VENTWATCH_ALERTS_URL", receiver.url)
        at = start()
        at.switch_page("pages/status.py").run()
    finally:
        receiver.stop()
    assert not at.exception, at.exception
    assert any("last 2 notifications received" in s for s in texts(at.success))
    table = next(df.value for df in at.dataframe if "route" in df.value.columns)
    assert list(table["status"]) == ["resolved", "firing"]  # newest first
    assert set(table["alert"]) == {"DataDriftShareHigh"} and set(table["route"]) == {"ventwatch-warning"}


def test_shift_slider_moves_the_preview_and_the_readings_sent(panel_env: dict[str, str]) -> None:
    at = start()
    before, sent_before = chart_means(at), next_readings(at)
    at.slider(key="drift_shift_co2_ppm").set_value(400.0).run()
    after, sent_after = chart_means(at), next_readings(at)
    assert after["co2_ppm", "injected"]["mean"] == pytest.approx(before["co2_ppm", "injected"]["mean"] + 400)
    assert after["co2_ppm", "reference"] == before["co2_ppm", "reference"]
    assert after["temperature_c", "injected"] == before["temperature_c", "injected"]
    assert [r["co2_ppm"] for r in sent_after] == [r["co2_ppm"] + 400 for r in sent_before]
    assert [r["temperature_c"] for r in sent_after] == [r["temperature_c"] for r in sent_before]
    # Moving a control away from a preset renames the tag, so logged traffic is not mislabelled.
    assert at.text_input(key="drift_tag").value == "custom"
    scenario = at.session_state["scenario"]
    assert scenario.name == "custom" and scenario.features["co2_ppm"].shift == 400


def test_missing_stuck_and_unit_error_controls(panel_env: dict[str, str]) -> None:
    at = start()
    at.slider(key="drift_missing_share_humidity_pct").set_value(1.0).run()
    at.checkbox(key="drift_stuck_co2_ppm").check().run()
    at.selectbox(key="drift_unit_error_temperature_c").set_value("°F").run()
    assert not at.exception
    sent = next_readings(at)
    assert all(r["humidity_pct"] is None for r in sent)  # sent as null: the sensor had no value
    assert len({r["co2_ppm"] for r in sent}) == 1
    assert min(r["temperature_c"] for r in sent) > 60  # 20-25 °C reported as °F
    means = chart_means(at)
    assert means["humidity_pct", "injected"]["missing_share"] == 1.0
    assert means["temperature_c", "injected"]["mean"] > 60
    outside = next(m for m in at.metric if m.label == "out of range")
    assert outside.value != "0.0%"
    # The Replay page warns before anything is sent.
    at.switch_page("pages/replay.py").run()
    assert any("temperature_c" in w and "the API will reject them" in w for w in texts(at.warning))


def test_presets_fill_the_controls_and_concept_drift_moves_the_truth(panel_env: dict[str, str]) -> None:
    at = start()
    truth_before = next(m for m in at.metric if m.label == "ventilate (scenario)").value
    at.selectbox(key="drift_preset").set_value("stricter-co2").run()
    assert at.slider(key="drift_policy_co2_max_ppm").value == 800
    assert at.text_input(key="drift_tag").value == "stricter-co2"
    truth_after = next(m for m in at.metric if m.label == "ventilate (scenario)").value
    assert float(truth_after.rstrip("%")) > float(truth_before.rstrip("%"))
    at.selectbox(key="drift_preset").set_value("occupancy-surge").run()
    assert at.slider(key="drift_zone_occupancy_factor").value == 2.0
    assert at.slider(key="drift_policy_co2_max_ppm").value == 1000
    means = chart_means(at)
    assert means["occupancy", "injected"]["mean"] > 1.5 * means["occupancy", "reference"]["mean"]
    # The scenario stays as set when the operator visits another page and comes back.
    at.switch_page("pages/replay.py").run()
    assert any("occupancy-surge" in m for m in texts(at.markdown))
    at.switch_page("pages/drift_lab.py").run()
    assert at.slider(key="drift_zone_occupancy_factor").value == 2.0
    assert at.selectbox(key="drift_preset").value == "occupancy-surge"


def test_a_uci_model_gets_its_own_controls(panel_env: dict[str, str], uci_model_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENTWATCH_MODEL_DIR", str(uci_model_dir))
    at = start()
    keys = {s.key for s in at.slider}
    assert "drift_shift_light_lux" in keys and "drift_shift_pm25_ugm3" not in keys
    assert not any(k.startswith("drift_policy_") or k.startswith("drift_zone_") for k in keys)
    lux = at.slider(key="drift_shift_light_lux")
    assert "(lx)" in lux.label
    at.selectbox(key="drift_preset").set_value("stricter-co2").run()
    assert any("changes the ventilation policy" in e for e in texts(at.error))
    at.selectbox(key="drift_preset").set_value("co2-offset").run()
    assert not at.error and chart_means(at)["co2_ppm", "injected"]["mean"] > 0
    at.switch_page("pages/replay.py").run()
    assert at.radio(key="replay_source").options == ["reference sample", "CSV file"]


def test_password_gate(panel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENTWATCH_PANEL_PASSWORD", "correct horse battery")
    at = start()
    assert texts(at.title) == ["ventwatch control panel"] and not at.slider and not at.get("plotly_chart")
    at.text_input(key="signin_password").input("wrong")
    at.button[0].click().run()
    assert texts(at.error) == ["Wrong password."] and not at.slider
    at.text_input(key="signin_password").input("correct horse battery")
    at.button[0].click().run()
    assert texts(at.title) == ["Drift lab"] and at.slider
