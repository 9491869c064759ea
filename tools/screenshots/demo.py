"""A small but real demo stack in a temporary directory: model, API, replayed traffic, snapshots."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

import httpx

from app import procs
from app.data.synthetic import SCHEMA, TARGET, generate
from app.model.train import load_dataset, train
from app.replay.client import frame_records, send_batches, send_labels
from app.settings import Settings

DAY = "2026-02-18"  # a weekday in the default model's reference season


@dataclass
class Demo:
    root: Path
    settings: Settings
    api: procs.ApiFactory


def build(root: Path) -> Demo:
    """Clean night hours, then a CO2 sensor offset of +400 ppm, with labels for most windows."""
    model_dir = root / "model"
    train(load_dataset("synthetic"), model_dir)
    factory = procs.ApiFactory(root, model_dir)
    api = factory.start()
    clean = generate(start=f"{DAY} 00:00", periods=240, freq_minutes=1, seed=21)
    drifted = generate(start=f"{DAY} 04:00", periods=240, freq_minutes=1, seed=22)
    drifted["co2_ppm"] += 400
    with httpx.Client(base_url=api.url, timeout=60) as client:
        for frame, scenario in ((clean, "clean"), (drifted, "co2-offset")):
            ids = send_batches(client, frame_records(frame, SCHEMA.names), scenario)
            keep = len(ids) if scenario == "clean" else len(ids) // 2
            send_labels(client, ids[:keep], frame[TARGET].to_numpy()[:keep])
    assert api.stop() in (0, -signal.SIGTERM)
    from datetime import timedelta

    settings = Settings(model_dir=model_dir, log_dir=factory.log_dir,
                        workspace_dir=root / "workspace", reports_dir=root / "reports",
                        run_dir=root / "run", snapshot_window=timedelta(hours=1),
                        snapshot_lateness=timedelta(0),
                        snapshot_rollup_after=timedelta(days=3650))
    from app.snapshots.job import SnapshotJob

    SnapshotJob(settings).run_once()
    return Demo(root, settings, factory)
