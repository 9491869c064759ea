"""Staging segments: the write-ahead files that make an acknowledged record durable.

A record is appended (one `os.write`) to the process's current segment before the API
answers, so it survives a SIGKILL (it is in the page cache) and, after the periodic
fsync, a power loss. Segments are later published as parquet and deleted. Each segment
is held under an exclusive `flock` by its writer: a segment whose lock can be taken
belongs to a dead process and is recovered by whoever takes it.

Segment format: JSON lines, each line one batch in columnar form
(`{"column": [values...], ...}`; a scalar stands for a column constant over the batch).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from app.log.tables import TIME_COLUMNS, TIMESTAMP, Kind, partition_dir, staging_dir

log = logging.getLogger(__name__)
SUFFIX = ".jsonl"


def new_segment_id() -> str:
    """Sortable by creation time, unique across hosts, processes and restarts."""
    host = socket.gethostname().replace("-", "")[:16] or "host"
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Segment:
    """One open, locked staging file."""

    def __init__(self, directory: Path) -> None:
        self.id = new_segment_id()
        self.path = directory / f"{self.id}{SUFFIX}"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC,
                          0o640)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _fsync_dir(directory)  # the file itself must survive a power loss, not only its data
        self.rows = 0
        self.opened = time.monotonic()

    def close(self) -> None:
        os.close(self.fd)  # releases the flock


class SegmentWriter:
    """Appends batches to the current segment; the maintenance thread syncs and rotates it."""

    def __init__(self, log_dir: Path, kind: Kind) -> None:
        self.kind: Kind = kind
        self.directory = staging_dir(log_dir, kind)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._current: Segment | None = None
        self._dirty = False

    def append(self, columns: dict[str, object], rows: int) -> None:
        """Make `rows` records durable against a process kill before returning."""
        line = orjson.dumps(columns, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        with self._lock:
            if self._current is None:
                self._current = Segment(self.directory)
            _write_all(self._current.fd, line)
            self._current.rows += rows
            self._dirty = True

    @property
    def rows(self) -> int:
        current = self._current
        return current.rows if current else 0

    @property
    def age(self) -> float:
        current = self._current
        return time.monotonic() - current.opened if current else 0.0

    def sync(self) -> None:
        """fsync what was appended since the last call (bounds loss on power failure)."""
        with self._lock:
            if not self._dirty or self._current is None:
                return
            fd, self._dirty = self._current.fd, False
        os.fdatasync(fd)  # rotation happens on this same thread, so fd stays open

    def rotate(self) -> Segment | None:
        """Detach the current segment (still open and locked) so it can be published."""
        with self._lock:
            segment, self._current, self._dirty = self._current, None, False
        return segment


def iter_batches(path: Path) -> Iterator[dict[str, object]]:
    """Complete batches of a segment; a torn last line (crash mid-write) is skipped."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1]:
        log.warning("%s: dropping an incomplete last line (%d bytes)", path, len(lines[-1]))
    for number, line in enumerate(lines[:-1], 1):
        if not line:
            continue
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError:
            log.error("%s:%d: unreadable batch skipped", path, number)


def batches_to_table(batches: list[dict[str, object]], arrow_schema: pa.Schema) -> pa.Table:
    """Columnar batches -> one Arrow table of `arrow_schema` (integers µs -> timestamps).

    Columns are gathered across batches first and converted once: a segment of single
    readings holds thousands of small batches, and one Arrow conversion per column and
    batch would cost more than the rest of publishing.
    """
    merged: dict[str, list[object]] = {field.name: [] for field in arrow_schema}
    for batch in batches:
        n = next((len(v) for v in batch.values() if isinstance(v, list)), 1)
        for name, values in merged.items():
            value = batch.get(name)
            if isinstance(value, list):
                values.extend(value)
            else:
                values.extend([value] * n)
    arrays = []
    for field in arrow_schema:
        if field.name in TIME_COLUMNS:
            arrays.append(pa.array(merged[field.name], pa.int64()).cast(TIMESTAMP))
        else:
            arrays.append(pa.array(merged[field.name], field.type))
    return pa.Table.from_arrays(arrays, schema=arrow_schema)


def read_segment(path: Path, arrow_schema: pa.Schema) -> pa.Table:
    return batches_to_table(list(iter_batches(path)), arrow_schema)


def publish(segment_path: Path, log_dir: Path, kind: Kind, arrow_schema: pa.Schema) -> int:
    """Write a segment's rows as parquet, one file per date/hour partition; returns rows.

    File names derive from the segment id, so publishing the same segment twice (a crash
    between publishing and deleting it) rewrites the same files instead of duplicating rows.
    Each file is written under a hidden temporary name, fsynced, then renamed into place.
    """
    table = read_segment(segment_path, arrow_schema)
    if table.num_rows == 0:
        return 0
    measured = table.column("measured_at")
    dates = pc.strftime(measured, format="%Y-%m-%d")
    hours = pc.hour(measured)
    keys = pc.binary_join_element_wise(dates, pc.cast(hours, pa.string()), "|")
    name = f"part-{segment_path.stem}.parquet"
    for key in pc.unique(keys).to_pylist():
        date, hour = key.split("|")
        part = table.filter(pc.equal(keys, key))
        part = part.take(pc.sort_indices(part, sort_keys=[("measured_at", "ascending")]))
        directory = partition_dir(log_dir, kind, date, int(hour))
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{name}.tmp"
        pq.write_table(part, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, directory / name)
        _fsync_dir(directory)
    return table.num_rows


def try_lock(path: Path) -> int | None:
    """An fd holding the segment's lock if its writer is gone, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if not path.exists():  # published and deleted by someone else meanwhile
        os.close(fd)
        return None
    return fd


def recover(log_dir: Path, kind: Kind, arrow_schema: pa.Schema) -> int:
    """Publish and delete segments left by dead processes; returns recovered rows."""
    directory = staging_dir(log_dir, kind)
    if not directory.is_dir():
        return 0
    total = 0
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        fd = try_lock(path)
        if fd is None:
            continue
        try:
            rows = publish(path, log_dir, kind, arrow_schema)
            path.unlink()
            total += rows
            if rows:
                log.info("recovered %d %s from %s", rows, kind, path.name)
        finally:
            os.close(fd)
    if total:
        _fsync_dir(directory)
    return total


def staged_segments(log_dir: Path, kind: Kind) -> list[Path]:
    directory = staging_dir(log_dir, kind)
    with contextlib.suppress(FileNotFoundError):
        return sorted(directory.glob(f"*{SUFFIX}"))
    return []
