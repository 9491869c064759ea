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
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
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

    def open_next(self) -> None:
        """Open the first segment ahead of the first append (creating one costs a dir fsync)."""
        fresh = Segment(self.directory, self.schema)
        with self._lock:
            if self._current is None:
                self._current, fresh = fresh, None  # type: ignore[assignment]
        if fresh is not None:
            fresh.close()
            fresh.path.unlink()

    def rotate(self) -> Segment | None:
        """Detach the current segment (still open and locked) so it can be published.

        Its replacement is opened here, on the maintenance thread, not by the next append on
        the request path.
        """
        with self._lock:
            if self._current is None or self._current.rows == 0:
                return None
        fresh = Segment(self.directory, self.schema)
        with self._lock:
            segment, self._current, self._dirty = self._current, fresh, False
        return segment

    def discard(self) -> None:
        """At shutdown, after the last rotation: remove the (empty) current segment."""
        with self._lock:
            segment, self._current = self._current, None
        if segment is not None:
            segment.close()
            if segment.rows == 0:
                segment.path.unlink(missing_ok=True)


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
    if isinstance(value, float | int) and not pa.types.is_string(kind):
        return pa.array(np.full(rows, value), kind)
    return pa.repeat(pa.scalar(value, kind), rows)


def to_batch(columns: Mapping[str, object], rows: int, arrow_schema: pa.Schema) -> pa.RecordBatch:
    """Columns (numpy arrays, lists, or one scalar for a constant column) -> a record batch.

    Timestamps are integer µs since the epoch; NaN in a numeric column becomes null
    (a sensor that reported no value).
    """
    arrays = [_column(columns[f.name], rows, f.type) for f in arrow_schema]
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema)


def iter_batches(path: Path, warn: bool = True) -> Iterator[pa.RecordBatch]:
    """The complete batches of a segment, streamed; a message torn by a crash is dropped.

    `warn=False` for segments that may be live (being appended to while read): a partial
    last message there is a write in progress, not a crash.
    """
    report = log.warning if warn else log.debug
    with pa.OSFile(str(path), "rb") as source:
        try:
            reader = pa.ipc.open_stream(source)
        except (pa.ArrowInvalid, OSError):
            report("%s: no complete schema (crash while creating it); nothing to read", path)
            return
        while True:
            try:
                yield reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError) as exc:
                report("%s: dropping a torn last batch (%s)", path, exc)
                return


def read_segment(path: Path, arrow_schema: pa.Schema) -> pa.Table:
    """A whole segment as one table with the columns of `arrow_schema` (for lookups)."""
    batches = [b.select(arrow_schema.names) for b in iter_batches(path, warn=False)]
    return pa.Table.from_batches(batches, schema=arrow_schema)


_US_PER_HOUR = 3_600_000_000
DICTIONARY_COLUMNS = ("model_version", "scenario")
# Rows buffered per partition before a row group is written: bounds publishing memory
# (~10 MB) whatever the segment size, and keeps row groups large enough to scan well.
ROW_GROUP_ROWS = 16_384


class _PartitionFile:
    """One parquet file being written under a hidden name, renamed into place on close."""

    def __init__(self, log_dir: Path, kind: Kind, hour: int, name: str, schema: pa.Schema) -> None:
        slot = datetime.fromtimestamp(hour * 3600, UTC)
        self.directory = partition_dir(log_dir, kind, slot.strftime("%Y-%m-%d"), slot.hour)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.final = self.directory / name
        self.tmp = self.directory / f".{name}.tmp"
        # Dictionary encoding only where values repeat: on ids and floats it costs ~40 % of
        # the write time and saves nothing.
        self.writer = pq.ParquetWriter(self.tmp, schema, compression="zstd",
                                       use_dictionary=[c for c in DICTIONARY_COLUMNS
                                                       if c in schema.names])
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.pending.append(batch)
        self.pending_rows += batch.num_rows
        if self.pending_rows >= ROW_GROUP_ROWS:
            self._write_row_group()

    def _write_row_group(self) -> None:
        if not self.pending:
            return
        table = pa.Table.from_batches(self.pending)
        # Sorted by measurement time: row-group statistics then prune time-range reads.
        self.writer.write_table(table.sort_by("measured_at"))
        self.pending, self.pending_rows = [], 0

    def close(self) -> None:
        self._write_row_group()
        self.writer.close()
        with open(self.tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.final)
        _fsync_dir(self.directory)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
        self.tmp.unlink(missing_ok=True)


def publish(segment_path: Path, log_dir: Path, kind: Kind) -> int:
    """Write a segment's rows as parquet, one file per date/hour partition; returns rows.

    File names derive from the segment id, so publishing the same segment twice (a crash
    between publishing and deleting it) rewrites the same files instead of duplicating rows.
    Each file is written under a hidden temporary name, fsynced, then renamed into place.
    The segment is streamed batch by batch, so memory stays bounded.
    """
    name = f"part-{segment_path.stem}.parquet"
    files: dict[int, _PartitionFile] = {}
    rows = 0
    try:
        for batch in iter_batches(segment_path):
            if batch.num_rows == 0:
                continue
            micros = batch.column("measured_at").to_numpy().view(np.int64)
            hours = micros // _US_PER_HOUR
            distinct = np.unique(hours).tolist()
            for hour in distinct:
                part = batch if len(distinct) == 1 else batch.filter(pa.array(hours == hour))
                if hour not in files:
                    files[hour] = _PartitionFile(log_dir, kind, hour, name, batch.schema)
                files[hour].add(part)
            rows += batch.num_rows
        for f in files.values():
            f.close()
    except BaseException:
        for f in files.values():
            f.abort()
        raise
    return rows


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
