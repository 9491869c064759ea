"""The replay's clock: when each reading was measured, running faster than wall time.

At `rate` readings per wall second and a time compression `compression`, consecutive
readings are `compression / rate` seconds of sensor time apart: with rate 50/s and
compression 60, an hour of sensor time (3,000 readings) is sent in one minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from app.snapshots.windows import floor

# A replay holds its readings in memory; beyond this, run several replays.
MAX_READINGS = 2_000_000


@dataclass(frozen=True)
class Timeline:
    """`count` readings measured `interval` apart from `start`."""

    start: datetime
    interval: timedelta
    count: int

    @property
    def span(self) -> timedelta:
        return self.interval * self.count

    @property
    def end(self) -> datetime:
        """Exclusive end: the time the next reading would have been measured."""
        return self.start + self.span

    def stamps(self) -> pd.DatetimeIndex:
        return pd.date_range(pd.Timestamp(self.start).tz_convert("UTC"), periods=self.count,
                             freq=pd.Timedelta(self.interval))


def auto_start(span: timedelta, window: timedelta, lateness: timedelta,
               now: datetime | None = None) -> datetime:
    """A start in the recent past, on a window boundary, so the whole replay lands in closed windows.

    The replay ends no later than `now - lateness`: the snapshot job can snapshot every
    window it fills (the last one once wall time passes its end), and no reading is in the
    future, which the API refuses beyond VENTWATCH_MAX_FUTURE_SECONDS.
    """
    now = now or datetime.now(UTC)
    return floor(now - span - lateness, window)


def plan(rate: float, compression: float, *, count: int | None = None, minutes: float | None = None,
         start: datetime | str = "auto", window: timedelta = timedelta(hours=1),
         lateness: timedelta = timedelta(seconds=60), now: datetime | None = None) -> Timeline:
    """The timeline of a replay of `count` readings, or of `minutes` of sensor time.

    `start`: a time (no offset means UTC), "now", or "auto" (see `auto_start`).
    """
    if rate <= 0 or not math.isfinite(rate):
        raise ValueError(f"rate must be a positive number of readings per second, got {rate}")
    if compression <= 0 or not math.isfinite(compression):
        raise ValueError(f"compression must be positive (sensor seconds per wall second), got {compression}")
    if (count is None) == (minutes is None):
        raise ValueError("give either a count of readings or minutes of sensor time")
    interval = timedelta(seconds=compression / rate)
    if interval < timedelta(milliseconds=1):
        raise ValueError(f"{compression:g}× compression at {rate:g} readings/s puts readings less than "
                         "1 ms of sensor time apart; lower the compression or the rate")
    if minutes is not None:
        if minutes <= 0:
            raise ValueError(f"minutes must be positive, got {minutes}")
        count = max(1, math.ceil(timedelta(minutes=minutes) / interval))
    assert count is not None
    if not 1 <= count <= MAX_READINGS:
        raise ValueError(f"a replay sends 1 to {MAX_READINGS:,} readings, not {count:,}; "
                         "lower the rate, the compression or the duration")
    now = now or datetime.now(UTC)
    if isinstance(start, str):
        if start == "auto":
            begin = auto_start(interval * count, window, lateness, now)
        elif start == "now":
            begin = now
        else:
            try:
                begin = datetime.fromisoformat(start)
            except ValueError as exc:
                raise ValueError(f"start {start!r}: use auto, now or an ISO 8601 time") from exc
    else:
        begin = start
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=UTC)
    return Timeline(start=begin.astimezone(UTC), interval=interval, count=int(count))
