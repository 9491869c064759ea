"""What the snapshot job flags: each named scenario at three hours of a weekday.

    python -m benchmarks.run --only detection

Each (scenario, hour) is one hourly window of readings 15 s apart, prepared by the replay
engine exactly as `ventwatch simulate --scenario NAME --start …` would send them, scored and
logged as the API does, with every reading labelled by the scenario's ground truth; then
one pass of the snapshot job with the default settings. Not a timing: it records which
features the job flags, and how close the others came (score ÷ calibrated threshold).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from app.data.synthetic import TARGET
from app.replay.context import ReplayContext
from app.replay.engine import ReplayConfig
from app.replay.scenarios import named
from app.settings import Settings
from app.snapshots.job import SnapshotJob
from benchmarks.snapshots import log_readings

SCENARIOS = ("clean", "co2-offset", "stuck-humidity", "heat-wave", "occupancy-surge", "stricter-co2")
HOURS = (1, 8, 14)  # night, morning arrival, afternoon
FIRST_DAY = datetime(2026, 10, 1, tzinfo=UTC)  # a Thursday; scenario i runs on the Thursday i weeks later
READINGS = 240  # one hour, 15 s apart


def run(model_dir: Path, workdir: Path) -> dict[str, Any]:
    root = workdir / "detection"
    settings = Settings(model_dir=model_dir, log_dir=root / "logs", workspace_dir=root / "workspace",
                        run_dir=root / "run", snapshot_window=timedelta(hours=1),
                        snapshot_lateness=timedelta(0), snapshot_rollup_after=timedelta(days=3650))
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
        out.append({
            "scenario": scenario, "hour": hour, "window": key,
            "faulty_sensor": next(iter(named(scenario).features), None),
            "flagged": [f for f in features if values.get(f"drift_detected:{f}", 0) >= 1],
            "score_over_threshold": {f: values[f"drift:{f}"] / thresholds[f] for f in features},
            "drift_share": values.get("drift_share"), "accuracy": values.get("accuracy"),
        })
    return {"window": "1h", "readings_per_window": READINGS, "thresholds": thresholds,
            "drift_share_threshold": settings.drift_share_threshold, "cells": out}
