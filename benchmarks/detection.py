"""What the snapshot job flags: each named scenario at three hours of a weekday, and clean traffic.

    python -m benchmarks.run --only detection

Each (scenario, hour) is one hourly window of readings 15 s apart, prepared by the replay
engine exactly as `ventwatch simulate --scenario NAME --start …` would send them, scored and
logged as the API does, with every reading labelled by the scenario's ground truth; then
one pass of the snapshot job with the default settings. Not a timing: it records which
features the job flags (drift, stuck), and how close the others came (score ÷ calibrated
threshold, standard deviation ÷ stuck floor).

False alarms: clean traffic for all 24 hours of weekdays and weekend days, each day with a
replay seed of its own (its own weather, attendance and ventilation), through another job
pass; every flagged window counts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from app.data.synthetic import TARGET
from app.replay.context import ReplayContext
from app.replay.engine import ReplayConfig
from app.replay.scenarios import CLEAN, named
from app.settings import Settings
from app.snapshots.job import SnapshotJob
from benchmarks.snapshots import log_readings

SCENARIOS = ("clean", "co2-offset", "stuck-humidity", "heat-wave", "occupancy-surge", "stricter-co2")
HOURS = (1, 8, 14)  # night, morning arrival, afternoon
FIRST_DAY = datetime(2026, 10, 1, tzinfo=UTC)  # a Thursday; scenario i runs on the Thursday i weeks later
READINGS = 240  # one hour, 15 s apart
# Clean days for the false-alarm count, each replayed for 24 hours with its own seed: the two
# weeks after the default model's training period (its reference ends on 1 March), and a
# weekday and a weekend day in the season of the scenarios above.
CLEAN_DAYS = {
    "after training": (datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 7, tzinfo=UTC),
                       datetime(2026, 3, 12, tzinfo=UTC), datetime(2026, 3, 15, tzinfo=UTC)),
    "October": (datetime(2026, 10, 6, tzinfo=UTC), datetime(2026, 10, 4, tzinfo=UTC)),
}


def _settings(model_dir: Path, root: Path) -> Settings:
    return Settings(model_dir=model_dir, log_dir=root / "logs", workspace_dir=root / "workspace",
                    run_dir=root / "run", snapshot_window=timedelta(hours=1),
                    snapshot_lateness=timedelta(0), snapshot_rollup_after=timedelta(days=3650))


def _flags(values: dict[str, float], features: list[str]) -> tuple[list[str], list[str]]:
    """Features that drifted, features that were stuck."""
    return ([f for f in features if values.get(f"drift_detected:{f}", 0) >= 1],
            [f for f in features if values.get(f"stuck:{f}", 0) >= 1])


def _spread_ratio(values: dict[str, float], feature: str) -> float | None:
    """Standard deviation ÷ stuck floor where the spread was tested."""
    floor = values.get(f"stuck_floor:{feature}")
    return values[f"std:{feature}"] / floor if floor else None


def scenarios(model_dir: Path, workdir: Path) -> dict[str, Any]:
    settings = _settings(model_dir, workdir / "detection")
    context = ReplayContext.load(settings)
    cells: dict[str, tuple[str, int]] = {}
    for i, scenario in enumerate(SCENARIOS):
        frames = []
        for hour in HOURS:
            start = FIRST_DAY + timedelta(weeks=i, hours=hour)
            prepared = context.prepare(ReplayConfig(scenario=named(scenario), count=READINGS, rate=4,
                                                    compression=60, start=start))
            frames.append(prepared.frame.assign(**{TARGET: prepared.truth}))
            cells[start.strftime("%Y-%m-%dT%H:%M:%SZ")] = (scenario, hour)
        log_readings(model_dir, settings.log_dir, pd.concat(frames, ignore_index=True),
                     labelled_share=1.0, scenario=scenario)
    job = SnapshotJob(settings)
    job.run_once()
    features = list(job.schema.names)
    thresholds = {f: job.state.thresholds[f] for f in features}
    out = []
    for key, (scenario, hour) in cells.items():
        values = job.state.windows[key].values
        drifted, stuck = _flags(values, features)
        out.append({
            "scenario": scenario, "hour": hour, "window": key,
            "faulty_sensor": next(iter(named(scenario).features), None),
            "flagged": drifted, "stuck": stuck,
            "score_over_threshold": {f: values[f"drift:{f}"] / thresholds[f] for f in features},
            "spread_over_floor": {f: r for f in features if (r := _spread_ratio(values, f)) is not None},
            "drift_share": values.get("drift_share"), "accuracy": values.get("accuracy"),
        })
    return {"thresholds": thresholds, "drift_share_threshold": settings.drift_share_threshold,
            "cells": out}


def clean_days(model_dir: Path, workdir: Path) -> list[dict[str, Any]]:
    """Every hour of the CLEAN_DAYS through one job pass: which windows were flagged, and why."""
    settings = _settings(model_dir, workdir / "detection-clean")
    context = ReplayContext.load(settings)
    days = [(season, day) for season, starts in CLEAN_DAYS.items() for day in starts]
    for seed, (_, day) in enumerate(days, start=1):
        prepared = context.prepare(ReplayConfig(scenario=CLEAN, count=24 * READINGS, rate=4,
                                                compression=60, start=day, seed=seed))
        log_readings(model_dir, settings.log_dir, prepared.frame, labelled_share=0, scenario="clean")
    job = SnapshotJob(settings)
    job.run_once()
    features = list(job.schema.names)
    out = []
    for seed, (season, day) in enumerate(days, start=1):
        windows = [job.state.windows[(day + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")].values
                   for h in range(24)]
        flags = [_flags(v, features) for v in windows]
        ratios = [r for v in windows for f in features if (r := _spread_ratio(v, f)) is not None]
        out.append({
            "season": season, "day": day.strftime("%Y-%m-%d"), "weekday": day.weekday() < 5,
            "seed": seed, "windows": len(windows),
            "drift_flagged": sum(bool(d) for d, _ in flags),
            "stuck_flagged": sum(bool(s) for _, s in flags),
            "flagged": sum(bool(d or s) for d, s in flags),
            "features": {f: sum(f in d or f in s for d, s in flags) for f in features
                         if any(f in d or f in s for d, s in flags)},
            "min_spread_over_floor": min(ratios, default=None),
        })
    return out


def run(model_dir: Path, workdir: Path) -> dict[str, Any]:
    return {"window": "1h", "readings_per_window": READINGS, **scenarios(model_dir, workdir),
            "clean_days": clean_days(model_dir, workdir)}
