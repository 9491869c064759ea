"""The prediction API end to end: real uvicorn on 127.0.0.1, real parquet in tmp_path."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app import procs
from app.log.reader import read_predictions
from app.model.bundle import ModelBundle


def reading(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {"temperature_c": 22.0, "humidity_pct": 40.0, "co2_ppm": 1400.0,
                               "pm25_ugm3": 8.0, "pm10_ugm3": 15.0, "tvoc_ppb": 150.0,
                               "co_ppm": 0.3, "occupancy": 20}
    return {**base, **overrides}


def wait_for_rows(log_dir, start, end, n, timeout=15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        frame = read_predictions(log_dir, start, end)
        if len(frame) >= n or time.monotonic() > deadline:
            return frame
        time.sleep(0.2)


def test_predict_log_label_joined_read(api_factory: procs.ApiFactory, model_dir) -> None:  # type: ignore[no-untyped-def]
    api = api_factory.start()
    version = ModelBundle.load(model_dir, with_model=False).version
    t0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    with httpx.Client(base_url=api.url, timeout=10) as client:
        single = client.post("/predict", json=reading(measured_at=t0.isoformat()),
                             headers={"X-Scenario": "clean"})
        assert single.status_code == 200, single.text
        body = single.json()
        assert set(body) == {"prediction_id", "predicted_class", "probability", "action",
                             "model_version"}
        assert body["predicted_class"] == 1 and body["action"] == "activate"  # CO2 1400 ppm
        assert body["model_version"] == version
        assert 0.5 <= body["probability"] <= 1

        rows = [reading(co2_ppm=500.0 + 10 * i, occupancy=i % 5,
                        measured_at=(t0 + timedelta(minutes=i)).isoformat()) for i in range(50)]
        rows[3]["scenario"] = "row-tag"
        rows[4]["pm25_ugm3"] = None  # a sensor that reported no value
        batch = client.post("/predict/batch", json={"readings": rows, "scenario": "batch-tag"})
        assert batch.status_code == 200, batch.text
        preds = batch.json()["predictions"]
        assert len(preds) == 50
        ids = [p["prediction_id"] for p in preds]
        assert len(set(ids)) == 50

        labels = [{"prediction_id": body["prediction_id"], "label": 1}] + [
            {"prediction_id": pid, "label": i % 2} for i, pid in enumerate(ids[:20])]
        answer = client.post("/labels", json={"labels": labels})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"accepted": 21}

    frame = wait_for_rows(api_factory.log_dir, t0, t0 + timedelta(hours=1), 51)
    assert len(frame) == 51
    by_id = frame.set_index("prediction_id")
    assert by_id.loc[body["prediction_id"], "scenario"] == "clean"
    assert by_id.loc[body["prediction_id"], "co2_ppm"] == 1400.0
    assert by_id.loc[body["prediction_id"], "model_version"] == version
    assert by_id.loc[ids[3], "scenario"] == "row-tag"
    assert by_id.loc[ids[5], "scenario"] == "batch-tag"
    assert by_id.loc[ids[4], "pm25_ugm3"] != by_id.loc[ids[4], "pm25_ugm3"]  # NaN: stored as null
    assert by_id.loc[ids[7], "measured_at"] == t0 + timedelta(minutes=7)
    assert (frame["received_at"] > datetime.now(UTC) - timedelta(minutes=5)).all()
    assert (frame["latency_seconds"] > 0).all()
    # Labels are joined to their predictions (the join waits for the label log flush too).
    deadline = time.monotonic() + 10
    while frame["label"].notna().sum() < 21 and time.monotonic() < deadline:
        time.sleep(0.2)
        frame = read_predictions(api_factory.log_dir, t0, t0 + timedelta(hours=1))
    labelled = frame.dropna(subset=["label"]).set_index("prediction_id")
    assert len(labelled) == 21
    assert labelled.loc[ids[1], "label"] == 1 and labelled.loc[ids[2], "label"] == 0
    # Hive partitions by the hour of measured_at.
    parts = sorted(p.relative_to(api_factory.log_dir).parts[:3]
                   for p in api_factory.log_dir.rglob("*.parquet"))
    assert ("predictions", "date=2026-11-20", "hour=09") in parts
    assert ("labels", "date=2026-11-20", "hour=09") in parts


def test_health_ready_model_docs(api: procs.Server, model_dir) -> None:  # type: ignore[no-untyped-def]
    bundle = ModelBundle.load(model_dir, with_model=False)
    with httpx.Client(base_url=api.url, timeout=10) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready").json()
        assert ready["status"] == "ready" and all(ready["checks"].values())
        info = client.get("/model").json()
        assert info["version"] == bundle.version
        assert [f["name"] for f in info["schema"]["features"]] == bundle.schema.names
        assert info["card"]["held_out"]["accuracy"] > 0.9
        spec = client.get("/openapi.json").json()
        reading_schema = spec["components"]["schemas"]["Reading"]
        # The request schema is the feature schema: same names, same physical ranges.
        for f in bundle.schema.features:
            prop = reading_schema["properties"][f.name]
            number = next(a for a in prop["anyOf"] if a.get("type") in ("number", "integer"))
            assert (number["minimum"], number["maximum"]) == (f.min, f.max)
        assert set(bundle.schema.names) <= set(reading_schema["required"])
        assert client.get("/docs").status_code == 200


def test_metrics_exposed_and_named_by_convention(api: procs.Server) -> None:
    with httpx.Client(base_url=api.url, timeout=10) as client:
        for i in range(5):
            assert client.post("/predict", json=reading(co2_ppm=600.0 + 300 * i)).status_code == 200
        client.post("/predict", json=reading(co2_ppm=-5.0))
        text = client.get("/metrics").text
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("ventwatch_http_requests_total", route="/predict", method="POST",
                 status="200") == 5
    assert value("ventwatch_http_requests_total", route="/predict", method="POST",
                 status="422") == 1
    assert value("ventwatch_rejected_inputs_total", reason="out_of_range") == 1
    total = sum(v for (n, _), v in samples.items() if n == "ventwatch_predictions_total")
    assert total == 5
    assert value("ventwatch_input_co2_ppm_count") == 5
    assert value("ventwatch_input_co2_ppm_sum") == pytest.approx(600 + 900 + 1200 + 1500 + 1800)
    version = next(dict(labels)["version"] for (name, labels) in samples
                   if name == "ventwatch_model_info")
    assert value("ventwatch_prediction_probability_count", model_version=version) == 5
    assert any(n == "ventwatch_http_request_duration_seconds_bucket" for n, _ in samples)
    assert value("ventwatch_http_requests_in_flight") >= 0
    # Conventions: counters end in _total, base units, no *_created noise.
    assert not any(n.endswith("_created") for n, _ in samples)
    for family in families.values():
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), family.name
