"""Windows of `measured_at`, and cheap change detection over the log's hourly partitions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.log.tables import Kind, table_dir

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def floor(t: datetime, length: timedelta) -> datetime:
    """Start of the window of `length` containing `t` (windows are aligned on the epoch)."""
    seconds = (t - EPOCH) // length
    return EPOCH + seconds * length


@dataclass(frozen=True)
class Window:
    start: datetime
    length: timedelta

    @property
    def end(self) -> datetime:
        return self.start + self.length

    @property
    def key(self) -> str:
        return self.start.strftime("%Y-%m-%dT%H:%M:%SZ")

    @classmethod
    def from_key(cls, key: str, length: timedelta) -> Window:
        return cls(datetime.strptime(key, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC), length)

    def hours(self) -> list[datetime]:
        """The hourly partitions this window overlaps."""
        t = self.start.replace(minute=0, second=0, microsecond=0)
        out = []
        while t < self.end:
            out.append(t)
            t += timedelta(hours=1)
        return out


def is_closed(window: Window, now: datetime, watermark: datetime | None,
              lateness: timedelta) -> bool:
    """Closed once the wall clock, or the newest measurement in the log, is `lateness` past its end.

    The second rule closes windows of replays whose clock runs faster than wall time;
    readings arriving even later still count: their window is re-snapshotted.
    """
    frontier = max(now, watermark) if watermark else now
    return window.end + lateness <= frontier


@dataclass(frozen=True)
class PartitionStamp:
    """What changes when files are published into (or removed from) an hourly partition."""

    mtime_ns: int
    files: int


def scan_partitions(log_dir: Path, kind: Kind) -> dict[str, PartitionStamp]:
    """`date=…/hour=…` -> stamp, from directory metadata only (no file is opened)."""
    root = table_dir(log_dir, kind)
    out: dict[str, PartitionStamp] = {}
    if not root.is_dir():
        return out
    with os.scandir(root) as dates:
        for date_entry in dates:
            if not date_entry.name.startswith("date=") or not date_entry.is_dir():
                continue
            with os.scandir(date_entry.path) as hours:
                for hour_entry in hours:
                    if not hour_entry.name.startswith("hour="):
                        continue
                    with os.scandir(hour_entry.path) as files:
                        count = sum(1 for f in files if f.name.endswith(".parquet"))
                    out[f"{date_entry.name}/{hour_entry.name}"] = PartitionStamp(
                        hour_entry.stat().st_mtime_ns, count)
    return out


def partition_hour(name: str) -> datetime:
    """'date=2026-11-26/hour=09' -> 2026-11-26 09:00 UTC."""
    date, hour = name.split("/")
    return datetime.strptime(f"{date[5:]} {hour[5:]}", "%Y-%m-%d %H").replace(tzinfo=UTC)
