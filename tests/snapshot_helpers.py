"""Helpers shared by the snapshot tests: replaying generated readings through the real API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from app.data.policy import VentilationPolicy
from app.data.synthetic import SCHEMA, generate
from app.replay.client import frame_records, send_batches, send_labels
from app.settings import Settings


def readings(start: str, hours: float, seed: int, freq_minutes: float = 1.0,
             co2_offset: float = 0.0, policy: VentilationPolicy | None = None) -> pd.DataFrame:
    frame = generate(start=start, periods=int(hours * 60 / freq_minutes),
                     freq_minutes=freq_minutes, seed=seed, policy=policy, label_noise=0.0)
    frame["co2_ppm"] = (frame["co2_ppm"] + co2_offset).clip(upper=10000)
    return frame


def send(url: str, frame: pd.DataFrame, scenario: str, batch: int = 1000) -> list[str]:
    """POST the readings (not the label column) to /predict/batch; returns prediction ids."""
    with httpx.Client(base_url=url, timeout=60) as client:
        return send_batches(client, frame_records(frame, SCHEMA.names), scenario, batch)


def label(url: str, ids: list[str], truth: np.ndarray) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        send_labels(client, ids, truth)


def job_settings(model_dir: Path, root: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "model_dir": model_dir, "log_dir": root / "logs", "workspace_dir": root / "workspace",
        "reports_dir": root / "reports", "run_dir": root / "run",
        "snapshot_window": timedelta(hours=1), "snapshot_lateness": timedelta(0),
        "snapshot_rollup_after": timedelta(days=3650),
    }
    return Settings(**{**values, **overrides})


def ui_metric_values(ui: str, project_id: str, snapshot_id: str) -> dict[str, float]:
    """A snapshot's values as the Evidently UI serves them, keyed like app.snapshots.report.values."""
    data = httpx.get(f"{ui}/api/projects/{project_id}/{snapshot_id}/download",
                     params={"report_format": "json"}, timeout=60).json()
    out: dict[str, float] = {}
    for metric in data["metrics"]:
        kind = metric["config"]["type"].rsplit(":", 1)[-1]
        column = metric["config"].get("column")
        value = metric["value"]
        if kind == "ValueDrift":
            out[f"drift:{column}"] = value
        elif kind == "DriftedColumnsCount":
            out["drift_share"] = value["share"]
        elif kind in ("Accuracy", "F1Score", "Precision", "Recall", "RocAuc"):
            out[kind.lower()] = value
        elif kind == "ExternalValue":
            out[metric["config"]["key"]] = value
    return out
