"""Loader for a user's own CSV: numeric columns become features, one named column the target."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from app.schema import Feature, FeatureSchema

_TIME_COLUMNS = ("measured_at", "timestamp", "time", "date", "datetime")


def _snake(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name).strip())
    s = re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()
    if not s or not s[0].isalpha():
        s = f"f_{s}"
    return s[:63]


def load(path: Path, target: str, timestamp: str | None = None,
         drop: tuple[str, ...] = ()) -> tuple[pd.DataFrame, FeatureSchema]:
    """Read `path`; return `measured_at` + features + target (0/1), and the derived schema.

    Physical ranges are unknown for arbitrary data, so each feature's valid range is the
    observed range widened by half its span on both sides (never below 0 for a column
    that is never negative). Edit `schema.json` in the bundle to set real limits.
    """
    df = pd.read_csv(path)
    if target not in df.columns:
        raise ValueError(f"{path}: no target column {target!r}; columns are {list(df.columns)}")
    time_col = timestamp or next((c for c in df.columns if c.lower() in _TIME_COLUMNS), None)
    if time_col is not None and time_col not in df.columns:
        raise ValueError(f"{path}: no timestamp column {time_col!r}")
    classes = sorted(df[target].dropna().unique().tolist())
    if len(classes) != 2:
        raise ValueError(
            f"{path}: target {target!r} must have exactly 2 classes, found {classes[:10]}"
        )
    skip = {target, time_col, *drop}
    numeric = [c for c in df.columns if c not in skip and pd.api.types.is_numeric_dtype(df[c])]
    if not numeric:
        raise ValueError(f"{path}: no numeric feature columns besides {target!r}")
    renamed = {c: _snake(c) for c in numeric}
    out = pd.DataFrame({renamed[c]: df[c] for c in numeric})
    features = []
    for col in numeric:
        values = df[col].dropna().to_numpy(dtype=float)
        lo, hi = float(values.min()), float(values.max())
        span = max(hi - lo, abs(hi) * 0.1, 1.0)
        vmin = lo - span / 2
        if lo >= 0:
            vmin = max(0.0, vmin)
        is_int = pd.api.types.is_integer_dtype(df[col])
        features.append(Feature(
            name=renamed[col], dtype="int" if is_int else "float", unit="",
            min=np.floor(vmin), max=np.ceil(hi + span / 2),
            example=float(np.median(values)) if not is_int else float(round(np.median(values))),
            description=f"Column {col!r} of {Path(path).name}",
        ))
    target_name = _snake(target)
    out[target_name] = (df[target] == classes[1]).astype("int64")
    if time_col is not None:
        ts = pd.to_datetime(df[time_col], utc=True)
    else:
        # No clock in the file: one reading per minute, so windows still make sense.
        ts = pd.date_range("2026-01-01", periods=len(df), freq="min", tz="UTC").to_series(
            index=df.index)
    out.insert(0, "measured_at", ts.to_numpy())
    schema = FeatureSchema(
        dataset=f"csv:{Path(path).name}", target=target_name, features=tuple(features),
        class_names={"0": str(classes[0]), "1": str(classes[1])},
    )
    return out.sort_values("measured_at", kind="stable").reset_index(drop=True), schema
