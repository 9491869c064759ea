"""Where a replay's readings come from: the generator, the model's reference sample, or a CSV.

Every source yields the true readings on the replay's timeline plus, when it can, the
ground truth for each:
- the generator simulates the zone at the replay's own clock (so its daily schedule
  follows the replayed hours) with the scenario's zone knobs;
- the reference sample and a CSV are replayed in their time order, cycled if the replay
  is longer, and re-stamped on the replay's timeline.
Ground truth: for models trained from a ventilation policy, the policy in force for the
scenario applied to the true readings; otherwise the source's own label column if it has
one (e.g. `occupied` in the UCI files).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from app.data import synthetic, uci
from app.data.csv import _snake
from app.data.policy import VentilationPolicy
from app.replay.scenarios import Scenario
from app.replay.timeline import Timeline
from app.schema import MEASURED_AT, FeatureSchema

SOURCES = ("generator", "reference", "csv")
WARM_UP = timedelta(hours=3)
MAX_WARM_UP_STEPS = 20_000
_TIME_COLUMNS = ("measured_at", "timestamp", "time", "date", "datetime")
# The columns VentilationPolicy.reasons reads.
POLICY_COLUMNS = ("co2_ppm", "pm25_ugm3", "pm10_ugm3", "tvoc_ppb", "co_ppm", "temperature_c",
                  "humidity_pct")


class SourceError(ValueError):
    """A source that cannot feed this model (missing file, missing features…)."""


@dataclass
class SourceReadings:
    """True readings on the replay timeline, and the ground truth when known."""

    frame: pd.DataFrame  # measured_at + the model's features
    truth: np.ndarray | None  # 0/1 per reading
    truth_rule: str  # how the truth was obtained, for reports


def describe(kind: str, path: Path | None = None) -> str:
    if kind == "csv":
        return f"CSV {path}"
    return {"generator": "generator (simulated office zone)",
            "reference": "the model's reference sample"}.get(kind, kind)


def check_generator(schema: FeatureSchema) -> None:
    foreign = sorted(set(schema.names) - set(synthetic.SCHEMA.names))
    if foreign:
        raise SourceError(
            f"the generator simulates the synthetic zone's sensors ({', '.join(synthetic.SCHEMA.names)}); "
            f"this model ({schema.dataset}) also expects {', '.join(foreign)}: replay the reference "
            "sample or a CSV instead")


def _truth(frame: pd.DataFrame, policy: VentilationPolicy | None, target: str | None,
           target_classes: tuple[int, int]) -> tuple[np.ndarray | None, str]:
    if policy is not None and all(c in frame.columns for c in POLICY_COLUMNS):
        changed = {k: v for k, v in policy.model_dump().items()
                   if v != VentilationPolicy.model_fields[k].default}
        rule = ", ".join(f"{k}={v:g}" for k, v in changed.items()) or "defaults"
        return policy.apply(frame), f"ventilation policy ({rule}) on the true readings"
    if target is not None and target in frame.columns:
        values = frame[target].to_numpy()
        if pd.isna(values).any() or not set(np.unique(values)) <= set(target_classes):
            raise SourceError(f"label column {target!r} holds values other than {list(target_classes)}")
        return values.astype(np.int64), f"the source's {target!r} column"
    return None, "none: the source has no labels and the model no policy"


def _cycled(frame: pd.DataFrame, count: int, offset: int) -> pd.DataFrame:
    idx = (np.arange(count) + offset) % len(frame)
    return frame.iloc[idx].reset_index(drop=True)


def read_csv(path: Path, schema: FeatureSchema) -> pd.DataFrame:
    """A CSV (UCI Occupancy files included) as measured_at-ordered rows with the schema's names."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"CSV {path} not found")
    try:
        frame = uci.load(path)
    except (ValueError, KeyError):
        raw = pd.read_csv(path)
        renamed = {c: (c if c in schema.names or c == schema.target else _snake(c)) for c in raw.columns}
        frame = raw.rename(columns=renamed)
        time_col = next((c for c in frame.columns if c.lower() in _TIME_COLUMNS), None)
        if time_col is not None:
            frame = frame.sort_values(time_col, kind="stable").reset_index(drop=True)
    missing = [f for f in schema.names if f not in frame.columns]
    if missing:
        raise SourceError(f"{path} lacks features this model needs: {', '.join(missing)} "
                          f"(its columns: {', '.join(map(str, frame.columns))})")
    if frame.empty:
        raise SourceError(f"{path} holds no rows")
    for name in schema.names:
        if not pd.api.types.is_numeric_dtype(frame[name]):
            raise SourceError(f"{path}: column {name!r} is not numeric")
    return frame.reset_index(drop=True)


def load(kind: str, schema: FeatureSchema, policy: VentilationPolicy | None, scenario: Scenario,
         timeline: Timeline, *, seed: int = 0, csv_path: Path | None = None,
         reference: Callable[[], pd.DataFrame] | None = None) -> SourceReadings:
    """The true readings of a replay (`reference` loads the bundle's reference sample)."""
    truth_policy = scenario.ground_truth_policy(policy)
    stamps = timeline.stamps()
    if kind == "generator":
        check_generator(schema)
        # The zone starts from outdoor air; a warm-up lets CO2 & co. reach their daily level first.
        warm = min(math.ceil(WARM_UP / timeline.interval), MAX_WARM_UP_STEPS)
        start = pd.Timestamp(timeline.start - warm * timeline.interval).tz_convert("UTC").tz_localize(None)
        frame = synthetic.simulate(start=start, periods=warm + timeline.count,
                                   freq_minutes=timeline.interval.total_seconds() / 60, seed=seed,
                                   zone=scenario.zone.config()).iloc[warm:]
        # Readings of a model trained without a policy are still labelled by the generator's.
        truth_policy = truth_policy or scenario.ground_truth_policy(VentilationPolicy.model_validate({}))
        target = None
    elif kind in ("reference", "csv"):
        if kind == "reference":
            if reference is None:
                raise SourceError("no reference sample given")
            recorded = reference()
        else:
            if csv_path is None:
                raise SourceError("the csv source needs the path of a CSV file")
            recorded = read_csv(csv_path, schema)
        if MEASURED_AT in recorded.columns:
            recorded = recorded.sort_values(MEASURED_AT, kind="stable").reset_index(drop=True)
        offset = int(np.random.default_rng(seed).integers(len(recorded))) if seed else 0
        frame = _cycled(recorded, timeline.count, offset)
        target = schema.target
    else:
        raise SourceError(f"unknown source {kind!r}; choose one of {', '.join(SOURCES)}")
    frame = frame.copy()
    frame[MEASURED_AT] = stamps
    truth, rule = _truth(frame, truth_policy, target, tuple(schema.classes))  # type: ignore[arg-type]
    return SourceReadings(frame=frame[[MEASURED_AT, *schema.names]].reset_index(drop=True),
                          truth=truth, truth_rule=rule)
