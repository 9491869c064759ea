"""Would drift thresholds per hour of day catch more than one threshold per feature? Measured.

    python -m benchmarks.run --only hourly-thresholds

Clean generator days (a weekday and a weekend day after the default model's training period,
each replayed with SEEDS seeds: their own weather, attendance and ventilation), scored hour by
hour against the bundle's seasonal reference with the job's drift score, as they are and with
the CO2 sensor reading +400 ppm. Thresholds come from the same leave-one-day-out scores of
the reference, pooled differently: one per feature over all hours (what the job uses), or
one per feature, kind of day and hour. No Evidently here: the score is the same number.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.model.bundle import ModelBundle
from app.replay.context import ReplayContext
from app.replay.engine import ReplayConfig
from app.replay.scenarios import CLEAN
from app.settings import Settings
from app.snapshots.reference import SeasonalReference, drift_score
from app.snapshots.windows import Window
from benchmarks.detection import READINGS

SEEDS = 20
DAYS = (datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 7, tzinfo=UTC))  # Thursday, Saturday
OFFSET_HOURS = (1, 8, 14)
OFFSET = 400.0  # ppm, as the co2-offset scenario
FLOOR = 0.1  # the calibration's absolute floor
# (name, neighbouring hours pooled on each side, share of the all-hours threshold as a floor);
# pool None: one threshold per feature for all hours.
SCHEMES = (("one per feature, all hours (in use)", None, 0.0),
           ("per kind of day and hour", 0, 0.0),
           ("per kind of day and hour, pooled over ±1 h", 1, 0.0),
           ("per kind of day and hour, pooled over ±1 h, floor ½ the all-hours one", 1, 0.5))


def _scores(reference: SeasonalReference, frame: pd.DataFrame, day: datetime,
            features: list[str]) -> pd.DataFrame:
    """One row per hour: each feature's score, and the CO2 score with the offset."""
    hours = frame["measured_at"].dt.hour.to_numpy()
    rows = []
    for h in range(24):
        ref, _ = reference.for_window(Window(day + timedelta(hours=h), timedelta(hours=1)))
        now = frame[hours == h]
        rows.append({"hour": h, "weekday": day.weekday() < 5,
                     **{c: drift_score(ref[c].to_numpy(float), now[c].to_numpy(float)) for c in features},
                     "co2_offset": drift_score(ref["co2_ppm"].to_numpy(float),
                                               now["co2_ppm"].to_numpy(float) + OFFSET)})
    return pd.DataFrame(rows)


def _thresholds(loo: pd.DataFrame, everywhere: dict[str, float], pool: int | None, floor_share: float,
                quantile: float, margin: float) -> dict[tuple[str, bool, int], float]:
    out = {}
    for c, overall in everywhere.items():
        for weekday in (True, False):
            kind = loo[loo["weekday"] == weekday]
            for h in range(24):
                if pool is None:
                    out[(c, weekday, h)] = overall
                    continue
                near = kind[kind["hour"].isin([(h + d) % 24 for d in range(-pool, pool + 1)])][c].dropna()
                own = float(np.quantile(near, quantile)) * margin if len(near) else overall
                out[(c, weekday, h)] = max(own, floor_share * overall, FLOOR)
    return out


def run(model_dir: Path, workdir: Path) -> dict[str, Any]:
    settings = Settings(model_dir=model_dir, log_dir=workdir / "hourly-thresholds" / "logs",
                        run_dir=workdir / "hourly-thresholds" / "run")
    bundle = ModelBundle.load(model_dir, with_model=False)
    features = list(bundle.schema.names)
    reference = SeasonalReference(bundle.reference())
    context = ReplayContext.load(settings)
    frames = []
    for day in DAYS:
        for seed in range(1, SEEDS + 1):
            prepared = context.prepare(ReplayConfig(scenario=CLEAN, count=24 * READINGS, rate=4,
                                                    compression=60, start=day, seed=seed))
            frames.append(_scores(reference, prepared.frame, day, features))
    windows = pd.concat(frames, ignore_index=True)
    q, m = settings.drift_quantile, settings.drift_margin
    loo = reference.day_hour_scores(features)
    everywhere = reference.calibrate(features, quantile=q, margin=m, floor=FLOOR)
    keys = list(zip(windows["weekday"], windows["hour"], strict=True))
    weekday = windows["weekday"].to_numpy()
    schemes = []
    for name, pool, floor_share in SCHEMES:
        th = _thresholds(loo, everywhere, pool, floor_share, q, m)
        flagged = np.zeros(len(windows), bool)
        for c in features:
            flagged |= windows[c].to_numpy() >= np.array([th[(c, w, h)] for w, h in keys])
        caught = windows["co2_offset"].to_numpy() >= np.array([th[("co2_ppm", w, h)] for w, h in keys])
        schemes.append({
            "name": name,
            "clean_flagged": {"weekday": int(flagged[weekday].sum()),
                              "weekend": int(flagged[~weekday].sum())},
            "co2_offset_caught": {str(h): float(caught[weekday & (windows["hour"] == h).to_numpy()].mean())
                                  for h in OFFSET_HOURS},
            "co2_offset_caught_weekday": float(caught[weekday].mean()),
        })
    weekday_rows = windows[windows["weekday"]]
    co2 = [{"hour": h, "clean_median": float(at["co2_ppm"].median()), "clean_max": float(at["co2_ppm"].max()),
            "offset_min": float(at["co2_offset"].min()), "offset_median": float(at["co2_offset"].median())}
           for h in OFFSET_HOURS for at in [weekday_rows[weekday_rows["hour"] == h]]]
    return {"seeds": SEEDS, "days": [d.strftime("%Y-%m-%d") for d in DAYS],
            "windows": {"weekday": int(weekday.sum()), "weekend": int((~weekday).sum())},
            "reference_days": {"weekday": int(loo[loo["weekday"]]["hour"].value_counts().max()),
                               "weekend": int(loo[~loo["weekday"]]["hour"].value_counts().max())},
            "offset_ppm": OFFSET, "schemes": schemes, "co2_scores": co2}
