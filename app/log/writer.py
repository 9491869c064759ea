"""The per-process log writer: durable appends now, parquet publication in the background."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pyarrow as pa

from app.log import staging
from app.log.tables import Kind, arrow_schema
from app.schema import FeatureSchema

log = logging.getLogger(__name__)


class LogWriter:
    """Owns this process's staging segments for predictions and labels.

    `append_*` return once the rows are in the page cache (safe from a process kill); a
    maintenance thread fsyncs every `fsync_seconds` and publishes segments to parquet every
    `flush_seconds` (or at `max_rows`), and recovers segments orphaned by dead processes.
    """

    def __init__(self, log_dir: Path, schema: FeatureSchema, *, flush_seconds: float = 5.0,
                 fsync_seconds: float = 1.0, max_rows: int = 200_000,
                 on_error: Callable[[Kind, BaseException], None] | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.flush_seconds = flush_seconds
        self.fsync_seconds = fsync_seconds
        self.max_rows = max_rows
        self._on_error = on_error
        self._schemas: dict[Kind, pa.Schema] = {
            "predictions": arrow_schema("predictions", schema),
            "labels": arrow_schema("labels", schema),
        }
        self._writers: dict[Kind, staging.SegmentWriter] = {
            kind: staging.SegmentWriter(self.log_dir, kind, s) for kind, s in self._schemas.items()
        }
        self._publish_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def recover(self) -> dict[Kind, int]:
        """Publish segments left behind by crashed processes (call at start-up)."""
        return {kind: staging.recover(self.log_dir, kind) for kind in self._schemas}

    def start(self) -> None:
        for writer in self._writers.values():
            writer.open_next()
        self._thread = threading.Thread(target=self._run, name="ventwatch-log", daemon=True)
        self._thread.start()

    def append(self, kind: Kind, columns: Mapping[str, object], rows: int) -> None:
        writer = self._writers[kind]
        writer.append(columns, rows)
        if writer.rows >= self.max_rows:
            self._wake.set()  # publish now: bounds segment size, publish time and memory

    def flush(self) -> int:
        """Publish everything staged by this process now; returns rows published."""
        total = 0
        with self._publish_lock:
            for kind, writer in self._writers.items():
                segment = writer.rotate()
                if segment is None:
                    continue
                try:
                    total += staging.publish(segment.path, self.log_dir, kind)
                    segment.path.unlink()
                except BaseException as exc:
                    # The segment stays on disk; its lock is released below, so the next
                    # sweep (here or in another process) publishes it again.
                    if self._on_error:
                        self._on_error(kind, exc)
                    raise
                finally:
                    segment.close()
        return total

    def close(self) -> None:
        """Stop the thread and publish what is staged (graceful shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()
        for writer in self._writers.values():
            writer.discard()

    def _run(self) -> None:
        last_flush = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(self.fsync_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                for writer in self._writers.values():
                    writer.sync()
                due = time.monotonic() - last_flush >= self.flush_seconds
                if due or any(w.rows >= self.max_rows for w in self._writers.values()):
                    self.flush()
                    last_flush = time.monotonic()
                    # Segments of workers that died since start-up.
                    self.recover()
            except Exception:
                log.exception("log maintenance failed; retrying in %.1fs", self.fsync_seconds)
