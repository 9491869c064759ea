"""What the snapshot job remembers between runs, stored atomically next to its project."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field


class WindowState(BaseModel):
    """One window (or roll-up) and the snapshot that currently shows it."""

    snapshot_id: str
    fingerprint: str  # predictions and labels seen when the snapshot was made
    rows: int
    labelled: int
    detail: str = "full"  # "full": report page with widgets; "lean": values and tests only
    alerting: bool = False
    values: dict[str, float] = Field(default_factory=dict)


class JobState(BaseModel):
    """State of one project (model version)."""

    version: int = 1
    partitions: dict[str, tuple[int, int]] = Field(default_factory=dict)  # name -> (mtime_ns, files)
    windows: dict[str, WindowState] = Field(default_factory=dict)  # window key -> state
    rollups: dict[str, WindowState] = Field(default_factory=dict)  # period key -> state
    pending: dict[str, str] = Field(default_factory=dict)  # window key -> fingerprint, not closed yet
    thresholds: dict[str, float] = Field(default_factory=dict)  # calibrated drift thresholds
    watermark: float | None = None  # newest measured_at in the log (epoch seconds)
    last_success: float | None = None
    last_duration: float | None = None

    @classmethod
    def load(cls, path: Path) -> JobState:
        if not path.is_file():
            return cls()
        return cls.model_validate_json(path.read_bytes())

    def save(self, path: Path) -> None:
        """Write to a temporary file, fsync, rename: a crash leaves the old or the new state."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.model_dump_json(indent=1).encode())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def snapshot_ids(self) -> set[str]:
        return ({w.snapshot_id for w in self.windows.values()}
                | {w.snapshot_id for w in self.rollups.values()})
