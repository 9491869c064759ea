"""Staging segments: the write-ahead files that make an acknowledged record durable.

A record is appended (one `os.write`) to the process's current segment before the API
answers, so it survives a SIGKILL (it is in the page cache) and, after the periodic
fsync, a power loss. Segments are later published as parquet and deleted. Each segment
is held under an exclusive `flock` by its writer: a segment whose lock can be taken
belongs to a dead process and is recovered by whoever takes it.

Segment format: an Arrow IPC stream (the schema message, then one record-batch message
per append). Numeric columns go from numpy to the file and back without Python objects,
and a message torn by a crash is detected and dropped (it was never acknowledged).
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
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from app.log.tables import Kind, partition_dir, staging_dir

log = logging.getLogger(__name__)
SUFFIX = ".arrows"


def new_segment_id() -> str:
    """Sortable by creation time, unique across hosts, processes and restarts."""
    host = socket.gethostname().replace("-", "")[:16] or "host"
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _write_all(fd: int, data: pa.Buffer | bytes) -> None:
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
    """One open, locked staging file, starting with its schema."""

    def __init__(self, directory: Path, arrow_schema: pa.Schema) -> None:
        self.id = new_segment_id()
        self.path = directory / f"{self.id}{SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        self.fd = os.open(self.path, flags, 0o640)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _write_all(self.fd, arrow_schema.serialize())
        _fsync_dir(directory)  # the file itself must survive a power loss, not only its data
        self.rows = 0
        self.opened = time.monotonic()

    def close(self) -> None:
        os.close(self.fd)  # releases the flock


class SegmentWriter:
    """Appends batches to the current segment; the maintenance thread syncs and rotates it."""

    def __init__(self, log_dir: Path, kind: Kind, arrow_schema: pa.Schema) -> None:
        self.kind: Kind = kind
        self.schema = arrow_schema
        self.directory = staging_dir(log_dir, kind)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._current: Segment | None = None
        self._dirty = False

    def append(self, columns: Mapping[str, object], rows: int) -> None:
        """Make `rows` records durable against a process kill before returning."""
        message = to_batch(columns, rows, self.schema).serialize()
        with self._lock:
            if self._current is None:
                self._current = Segment(self.directory, self.schema)
            _write_all(self._current.fd, message)
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


def _column(value: object, rows: int, kind: pa.DataType) -> pa.Array:
    """One column from numpy (fast paths: this runs for every micro-batch), a list or a scalar."""
    if pa.types.is_timestamp(kind):
        micros = np.ascontiguousarray(np.broadcast_to(np.asarray(value, np.int64), (rows,)))
        return pa.Array.from_buffers(kind, rows, [None, pa.py_buffer(micros)])
    if isinstance(value, np.ndarray):
        if value.shape != (rows,):
            value = np.broadcast_to(value, (rows,))
        if value.dtype.kind == "f":
            missing = np.isnan(value)
            if pa.types.is_integer(kind):  # e.g. occupancy, validated whole on the way in
                return pa.array(np.where(missing, 0, value).astype(np.int64),
                                mask=missing if missing.any() else None)
            return pa.array(value, mask=missing if missing.any() else None)
        return pa.array(value, kind)
    if isinstance(value, list):
        return pa.array(value, kind)
    if value is None:
        return pa.nulls(rows, kind)
    return pa.array([value] * rows, kind)


def to_batch(columns: Mapping[str, object], rows: int, arrow_schema: pa.Schema) -> pa.RecordBatch:
    """Columns (numpy arrays, lists, or one scalar for a constant column) -> a record batch.

    Timestamps are integer µs since the epoch; NaN in a numeric column becomes null
    (a sensor that reported no value).
    """
    arrays = [_column(columns[f.name], rows, f.type) for f in arrow_schema]
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema)


def read_segment(path: Path, arrow_schema: pa.Schema | None = None) -> pa.Table:
    """The complete batches of a segment; a message torn by a crash is dropped.

    `arrow_schema` selects (and orders) columns; it must be part of the segment's schema.
    """
    batches = []
    source = pa.BufferReader(path.read_bytes())
    try:
        reader = pa.ipc.open_stream(source)
    except (pa.ArrowInvalid, OSError):
        log.warning("%s: no complete schema (crash while creating it); nothing to read", path)
        return (arrow_schema or pa.schema([])).empty_table()
    while True:
        try:
            batches.append(reader.read_next_batch())
        except StopIteration:
            break
        except (pa.ArrowInvalid, OSError) as exc:
            log.warning("%s: dropping a torn last batch (%s)", path, exc)
            break
    table = pa.Table.from_batches(batches, schema=reader.schema)
    return table.select(arrow_schema.names) if arrow_schema is not None else table


def publish(segment_path: Path, log_dir: Path, kind: Kind) -> int:
    """Write a segment's rows as parquet, one file per date/hour partition; returns rows.

    File names derive from the segment id, so publishing the same segment twice (a crash
    between publishing and deleting it) rewrites the same files instead of duplicating rows.
    Each file is written under a hidden temporary name, fsynced, then renamed into place.
    """
    table = read_segment(segment_path)
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


def recover(log_dir: Path, kind: Kind) -> int:
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
            rows = publish(path, log_dir, kind)
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
