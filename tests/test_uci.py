"""Real data: train on UCI Occupancy `datatraining.txt`, serve it, score the later `datatest2.txt`."""

from __future__ import annotations

from datetime import timedelta

import httpx
import numpy as np
import pytest

from app import procs
from app.data import uci
from app.log.reader import read_predictions
from app.model.bundle import ModelBundle
from app.snapshots.job import SnapshotJob
from tests.conftest import UCI_DIR, require
from tests.snapshot_helpers import job_settings


def test_loader_handles_the_file_quirks() -> None:
    require((UCI_DIR / "datatest2.txt").is_file(), f"UCI Occupancy data in {UCI_DIR}")
    sizes = {name: len(uci.load(UCI_DIR / name)) for name in uci.FILES}
    assert sizes == {"datatest.txt": 2665, "datatraining.txt": 8143, "datatest2.txt": 9752}
    later = uci.load(UCI_DIR / "datatest2.txt")  # unquoted dates, unlike the other two files
    assert str(later["measured_at"].dt.tz) == "UTC"
    assert later["measured_at"].is_monotonic_increasing
    assert list(later.columns) == ["measured_at", *uci.SCHEMA.names, uci.TARGET]
    assert later[uci.TARGET].mean() == pytest.approx(2049 / 9752)


def test_train_on_training_file_and_score_later_period_through_api(
        uci_model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bundle = ModelBundle.load(uci_model_dir, with_model=False)
    assert bundle.schema.dataset == "uci-occupancy"
    assert bundle.schema.names == ["temperature_c", "humidity_pct", "light_lux", "co2_ppm",
                                   "humidity_ratio"]
    later = uci.load(UCI_DIR / "datatest2.txt")
    factory = procs.ApiFactory(tmp_path, uci_model_dir)
    try:
        api = factory.start()
        with httpx.Client(base_url=api.url, timeout=30) as client:
            # The API speaks the UCI schema: synthetic-only fields are unknown here.
            wrong = client.post("/predict", json={"co2_ppm": 800.0, "occupancy": 3})
            assert wrong.status_code == 422
            assert "occupancy: unknown field" in wrong.json()["message"]
            assert "light_lux: required field is missing" in wrong.json()["message"]
            predicted, ids = [], []
            rows = later.assign(measured_at=later["measured_at"].map(lambda t: t.isoformat()))
            records = rows.drop(columns=[uci.TARGET]).to_dict(orient="records")
            for start in range(0, len(records), 2000):
                response = client.post("/predict/batch",
                                       json={"readings": records[start:start + 2000],
                                             "scenario": "uci-datatest2"})
                assert response.status_code == 200, response.text
                for p in response.json()["predictions"]:
                    predicted.append(p["predicted_class"])
                    ids.append(p["prediction_id"])
            truth = later[uci.TARGET].to_numpy()
            accuracy = float(np.mean(np.array(predicted) == truth))
            labels = [{"prediction_id": pid, "label": int(y)} for pid, y in zip(ids, truth, strict=True)]
            for start in range(0, len(labels), 5000):
                answer = client.post("/labels", json={"labels": labels[start:start + 5000]})
                assert answer.status_code == 200, answer.text
        assert accuracy > 0.95, accuracy
    finally:
        factory.stop_all()
    # Logged with the real timestamps, one hive partition per hour of February 2015.
    frame = read_predictions(factory.log_dir)
    assert len(frame) == len(later)
    assert frame["measured_at"].min() == later["measured_at"].min()
    assert frame["label"].notna().all()
    assert (frame["predicted_class"] == frame["label"]).mean() == pytest.approx(accuracy)
    hours = {p.parent.name for p in (factory.log_dir / "predictions").rglob("*.parquet")}
    days = {p.parent.parent.name for p in (factory.log_dir / "predictions").rglob("*.parquet")}
    assert days >= {"date=2015-02-11", "date=2015-02-18"} and len(hours) == 24
    print(f"UCI datatest2 accuracy through the API: {accuracy:.4f} ({len(later)} readings)")

    # What the snapshots show for the later period, per 6-hour window.
    settings = job_settings(uci_model_dir, tmp_path, log_dir=factory.log_dir,
                            snapshot_window=timedelta(hours=6))
    job = SnapshotJob(settings)
    result = job.run_once()
    windows = job.state.windows
    assert len(result.written) == len(windows) == frame["measured_at"].dt.floor("6h").nunique()
    rows = []
    for key in sorted(windows):
        v = windows[key].values
        drifted = [c for c in job.schema.names if v.get(f"drift_detected:{c}") == 1]
        rows.append((key, windows[key].rows, v["drift_share"], ",".join(drifted) or "-",
                     v.get("accuracy", float("nan")), v.get("f1", float("nan"))))
        assert v["label_coverage"] == 1.0 and "accuracy" in v
    print("\nwindow (6h)          rows  drift share  drifted features          accuracy  F1")
    for key, n, share, drifted, acc, f1 in rows:
        print(f"{key}  {n:5d}  {share:11.3f}  {drifted:24s}  {acc:8.3f}  {f1:5.3f}")
    accuracies = [r[4] for r in rows]
    assert sum(a > 0.9 for a in accuracies) >= len(accuracies) // 2
    # What the later week shows (README, "Real data"): the windows where the model falls
    # below 0.9 accuracy (the mornings and middays of 12-13 February) are all flagged as
    # dataset drift, so the drift alarm comes with the labels' verdict, not after it.
    poor = [(key, share) for key, _, share, _, acc, _ in rows if acc < 0.9]
    assert poor and all(share >= settings.drift_share_threshold for _, share in poor), poor
