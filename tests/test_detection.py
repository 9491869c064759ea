"""What the snapshot job flags, hour by hour: stuck sensors, CO2 offsets, clean days; old state files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from evidently.core.serialization import SnapshotModel

from app import procs
from app.data.synthetic import TARGET
from app.model.bundle import ModelBundle
from app.snapshots.exporter import RunStats, registry_for
from app.snapshots.job import SnapshotJob
from app.snapshots.reference import SeasonalReference
from app.snapshots.windows import Window
from tests.snapshot_helpers import job_settings, label, readings, send

DAY = "2026-02-18"  # a Wednesday inside the reference's season, as in test_snapshots.py
WEEKEND_DAY = "2026-02-21"  # the Saturday after


def hours_of(day: pd.DataFrame, hours: tuple[int, ...]) -> list[pd.DataFrame]:
    """One frame per hour, cut from a day generated from midnight (no cold start mid-day)."""
    hour = day["measured_at"].dt.hour
    return [day[hour == h].reset_index(drop=True) for h in hours]


def snapshot_jobs(api_factory: procs.ApiFactory, model_dir: Path, root: Path,
                  frames: dict[str, pd.DataFrame]) -> SnapshotJob:
    """Send each frame (scenario name -> readings) through a real API, then one job pass."""
    api = api_factory.start()
    for scenario, frame in frames.items():
        send(api.url, frame, scenario)
    api.stop()
    job = SnapshotJob(job_settings(model_dir, root, log_dir=api_factory.log_dir))
    job.run_once()
    return job


def test_stuck_humidity_is_flagged_at_night_morning_and_afternoon(
        api_factory: procs.ApiFactory, model_dir: Path, tmp_path: Path) -> None:
    day = readings(f"{DAY} 00:00", 24, seed=81)
    stuck = [w.assign(humidity_pct=w["humidity_pct"].iloc[0]) for w in hours_of(day, (1, 8, 14))]
    job = snapshot_jobs(api_factory, model_dir, tmp_path, {"stuck-humidity": pd.concat(stuck)})
    assert sorted(job.state.windows) == [f"{DAY}T{h:02d}:00:00Z" for h in (1, 8, 14)]
    for key, window in job.state.windows.items():
        v = window.values
        assert v["stuck:humidity_pct"] == 1 and v["std:humidity_pct"] == pytest.approx(0, abs=1e-9), (key, v)
        assert v["stuck_floor:humidity_pct"] > 0
        # The other sensors move as on clean days, and a frozen value inside the usual
        # range hardly moves the distribution: only the spread test catches it.
        assert not [k for k, x in v.items() if k.startswith("stuck:") and x and k != "stuck:humidity_pct"]
        assert v["drift_detected:humidity_pct"] == 0, (key, v)
        assert window.alerting and v["tests_failed"] >= 1
        # The failed test is in the snapshot the Evidently UI lists.
        model = SnapshotModel.parse_raw(job.store.read_snapshot(job.project_id, window.snapshot_id))
        failed = [t.name for r in model.metric_results.values() for t in r.tests
                  if str(t.status.value) == "FAIL"]
        assert any("Std value of 'humidity_pct'" in name for name in failed), failed
    # The snapshot service exports it for the latest window.
    registry = registry_for(job, RunStats())
    assert registry.get_sample_value("ventwatch_feature_stuck", {"feature": "humidity_pct"}) == 1
    assert registry.get_sample_value("ventwatch_feature_stuck", {"feature": "co2_ppm"}) == 0
    assert registry.get_sample_value("ventwatch_feature_stddev_floor", {"feature": "humidity_pct"}) == \
        job.state.windows[f"{DAY}T14:00:00Z"].values["stuck_floor:humidity_pct"]


def test_co2_offset_in_office_hours_shows_once_labels_arrive(
        api_factory: procs.ApiFactory, model_dir: Path, tmp_path: Path) -> None:
    """In office hours the CO2 of clean days differs by more than 400 ppm from day to day
    (attendance x ventilation), so the drift score of a +400 ppm offset stays within what
    clean days show (README, BENCHMARKS.md "Drift detection"). Where the offset changes the
    model's decisions (here 14:00; at 08:00 of this day the air needs ventilation anyway),
    the ground truth of the true air says so: the labelled window fails its accuracy floor."""
    hour = 14
    (window,) = hours_of(readings(f"{DAY} 00:00", 24, seed=82, co2_offset=400), (hour,))
    api = api_factory.start()
    ids = send(api.url, window, "co2-offset")
    label(api.url, ids, window[TARGET].to_numpy())  # the truth of the air, not of the sensor
    api.stop()
    settings = job_settings(model_dir, tmp_path, log_dir=api_factory.log_dir)
    job = SnapshotJob(settings)
    job.run_once()
    state = job.state.windows[f"{DAY}T{hour:02d}:00:00Z"]
    v = state.values
    assert v["label_coverage"] == 1.0
    assert v["accuracy"] < settings.accuracy_floor, v
    assert state.alerting and v["tests_failed"] >= 1, v


def test_clean_weekday_and_weekend_day_are_not_flagged(api_factory: procs.ApiFactory, model_dir: Path,
                                                       tmp_path: Path) -> None:
    days = {"clean": pd.concat([readings(f"{DAY} 00:00", 24, seed=83),
                                readings(f"{WEEKEND_DAY} 00:00", 24, seed=84)])}
    job = snapshot_jobs(api_factory, model_dir, tmp_path, days)
    assert len(job.state.windows) == 48
    tested = set()
    for key, window in job.state.windows.items():
        v = window.values
        assert not window.alerting and v["tests_failed"] == 0, (key, v)
        tested |= {k for k in v if k.startswith("stuck:")}
    # The spread was tested (not skipped) for the sensors that never sit still.
    assert {"stuck:humidity_pct", "stuck:co2_ppm", "stuck:temperature_c"} <= tested


def test_stuck_floors_only_where_the_reference_can_tell(model_dir: Path) -> None:
    """The session's bundle holds one week of reference: five weekdays, two weekend days."""
    bundle = ModelBundle.load(model_dir, with_model=False)
    reference, names = SeasonalReference(bundle.reference()), bundle.schema.names
    hour = timedelta(hours=1)
    night = reference.spread_floors(Window(datetime(2026, 2, 18, 1, tzinfo=UTC), hour), names)
    assert night["humidity_pct"] > 0 and night["co2_ppm"] > 0
    assert night["occupancy"] == 0  # nobody there: flat is normal
    office = reference.spread_floors(Window(datetime(2026, 2, 18, 10, tzinfo=UTC), hour), names)
    assert office["occupancy"] > 0
    # Two weekend days are too few spans, and weekdays do not stand in for them.
    weekend = reference.spread_floors(Window(datetime(2026, 2, 21, 14, tzinfo=UTC), hour), names)
    assert set(weekend.values()) == {0.0}


def test_state_written_by_the_previous_release_loads(model_dir: Path, tmp_path: Path) -> None:
    """A state file from before the stuck check (same fields, flat thresholds) is used as it is."""
    settings = job_settings(model_dir, tmp_path)
    job = SnapshotJob(settings)
    old = {"version": 1, "partitions": {}, "windows": {}, "rollups": {}, "pending": {},
           "thresholds": {name: 9.5 for name in job.state.thresholds},
           "watermark": None, "last_success": None, "last_duration": None}
    job.state_path.write_text(json.dumps(old))
    again = SnapshotJob(settings)
    assert again.state.thresholds == old["thresholds"]
    assert again.config.thresholds == old["thresholds"]
    assert again.run_once().written == []
