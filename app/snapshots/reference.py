"""Seasonality-aware reference data and drift thresholds calibrated on it.

Indoor air follows the working day: compared with an all-day reference, every night
window "drifts" (no people, low CO2), and every office hour too. So each window is
compared with reference rows from the same hours of the day (±1 h) on the same kind of
day (weekday or weekend), falling back to any day, then to the whole reference, when
that leaves too few rows.

Even then, one hour of one day is a narrow slice: its weather, attendance and ventilation
differ from the pooled days of the reference, so a drift distance of zero is never seen.
How far apart clean days normally are is measured on the reference itself: each
reference day's hour is scored against the other days (leave-one-day-out), and a
feature's threshold is a high quantile of those scores times a margin. Clean windows then
rarely alarm, while faults that clean days never produce (a unit error, an offset where
the signal is quiet) are flagged.

A sensor stuck at a value inside its usual range moves a distribution distance little, so
the spread of the readings is checked too: a window's standard deviation must reach a floor
taken from the reference rows of the same hours on the same kind of day, cut into spans of
the window's length: a low quantile of their standard deviations times a margin. Where
clean readings do stay flat at those hours (nobody in the office at night), or the
reference has too few such spans to tell, there is no floor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd
from scipy import stats

from app.snapshots.windows import Window

# Evidently's normed Wasserstein distance: W1(reference, current) / std(reference).
DRIFT_METHOD = "wasserstein"
# Readings a reference span needs before its standard deviation counts, and spans a floor
# needs: the flattest of a few clean spans says little about how flat clean readings get.
MIN_SPAN_ROWS = 3
MIN_SPANS = 10


def drift_score(reference: np.ndarray, current: np.ndarray) -> float:
    """The same number Evidently's `ValueDrift(method="wasserstein")` reports."""
    reference = reference[np.isfinite(reference)]
    current = current[np.isfinite(current)]
    if len(reference) == 0 or len(current) == 0:
        return float("nan")
    norm = max(float(np.std(reference)), 0.001)
    return float(stats.wasserstein_distance(reference, current) / norm)


@dataclass
class SeasonalReference:
    """The bundle's reference sample, sliced by time of day and kind of day."""

    frame: pd.DataFrame
    min_rows: int = 200
    _hour: np.ndarray = field(init=False, repr=False)
    _weekday: np.ndarray = field(init=False, repr=False)
    _day: np.ndarray = field(init=False, repr=False)
    _step: timedelta = field(init=False, repr=False)
    _resolutions: dict[str, float] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        ts = pd.DatetimeIndex(self.frame["measured_at"]).tz_convert("UTC")
        self._hour = np.asarray(ts.hour)
        self._weekday = np.asarray(ts.dayofweek < 5)
        self._day = np.asarray(ts.normalize().asi8)
        gaps = np.diff(np.unique(ts.asi8))  # the reference's sampling interval
        self._step = timedelta(microseconds=float(np.median(gaps)) / 1000 if len(gaps) else 0)

    def _hours_of(self, window: Window) -> set[int]:
        if window.length >= timedelta(days=1):
            return set(range(24))
        last = window.end - timedelta(microseconds=1)
        hours = {window.start.hour, last.hour}
        span = window.start.hour
        while span != last.hour:
            span = (span + 1) % 24
            hours.add(span)
        return {(h + d) % 24 for h in hours for d in (-1, 0, 1)}

    def mask_for(self, window: Window) -> tuple[np.ndarray, str]:
        """Rows to compare `window` with, and which rule chose them."""
        in_hours = np.isin(self._hour, list(self._hours_of(window)))
        same_kind = self._weekday == (window.start.weekday() < 5)
        for mask, rule in ((in_hours & same_kind, "same hours, same kind of day"),
                           (in_hours, "same hours, any day"),
                           (np.ones(len(self.frame), bool), "whole reference")):
            if mask.sum() >= self.min_rows:
                return mask, rule
        return np.ones(len(self.frame), bool), "whole reference"

    def for_window(self, window: Window) -> tuple[pd.DataFrame, str]:
        mask, rule = self.mask_for(window)
        return self.frame[mask], rule

    def spread_floors(self, window: Window, columns: list[str], quantile: float = 0.0,
                      margin: float = 0.5) -> dict[str, float]:
        """Per column, the standard deviation below which `window`'s readings count as stuck.

        The reference rows from the window's hours (±1 h) on its kind of day are cut into
        spans of the window's length (at least MIN_SPAN_ROWS reference readings long); the
        floor is `margin` times the `quantile` of the spans' standard deviations. No other
        kind of day stands in (an office at the weekend is flatter than any weekday), so
        with fewer than MIN_SPANS spans there is no floor (0). Nor where a column's spans
        move by less than one step of its resolution: a head count that stays at 0 at night.
        """
        mask = (np.isin(self._hour, list(self._hours_of(window)))
                & (self._weekday == (window.start.weekday() < 5)))
        span = pd.Timedelta(max(window.length, MIN_SPAN_ROWS * self._step))
        spans = self.frame.loc[mask, columns].groupby(
            pd.DatetimeIndex(self.frame.loc[mask, "measured_at"]).floor(span))
        stds, counts = spans.std(), spans.count()
        floors = {}
        for c in columns:
            spread = stds[c][counts[c] >= MIN_SPAN_ROWS].dropna()
            low = float(np.quantile(spread, quantile)) if len(spread) >= MIN_SPANS else 0.0
            floors[c] = float(f"{low * margin:.4g}") if low >= self._resolution(c) else 0.0
        return floors

    def _resolution(self, column: str) -> float:
        """Smallest step between two distinct values of the column in the reference (the
        same for every window: computed once per column)."""
        if column not in self._resolutions:
            values = np.unique(self.frame[column].to_numpy(dtype=np.float64))
            steps = np.diff(values[np.isfinite(values)])
            self._resolutions[column] = float(steps.min()) if len(steps) else float("inf")
        return self._resolutions[column]

    def day_hour_scores(self, columns: list[str], min_window_rows: int = 10) -> pd.DataFrame:
        """Leave-one-day-out drift scores: each reference day's hour against the other days.

        One row per (day, hour): `hour`, `weekday`, and per column the score of that hour
        against the slice a window at that hour would be compared with, without its own day.
        """
        values = {c: self.frame[c].to_numpy(dtype=np.float64) for c in columns}
        rows = []
        for day in np.unique(self._day):
            on_day = self._day == day
            for hour in np.unique(self._hour[on_day]):
                current = on_day & (self._hour == hour)
                if current.sum() < min_window_rows:
                    continue
                neighbours = np.isin(self._hour, [(hour + d) % 24 for d in (-1, 0, 1)])
                weekday = bool(self._weekday[current][0])
                rest = neighbours & (self._weekday == weekday) & ~on_day
                if rest.sum() < self.min_rows:
                    rest = neighbours & ~on_day
                if rest.sum() < self.min_rows:
                    continue
                rows.append({"hour": int(hour), "weekday": weekday,
                             **{c: drift_score(values[c][rest], values[c][current]) for c in columns}})
        return pd.DataFrame(rows, columns=["hour", "weekday", *columns])

    def calibrate(self, columns: list[str], quantile: float = 0.99, margin: float = 1.25,
                  floor: float = 0.1, min_window_rows: int = 10) -> dict[str, float]:
        """Per-column drift threshold: a high quantile of the leave-one-day-out scores, all hours."""
        scores = self.day_hour_scores(columns, min_window_rows)
        return {c: round(max(floor, float(np.quantile(s, quantile)) * margin) if len(s) else floor, 4)
                for c in columns for s in [scores[c].dropna()]}
