"""Reading the logs back: predictions joined with their labels, for a time range."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from app.log import ids as id_codec
from app.log import staging
from app.log.tables import Kind, partition_dir, table_dir
from app.schema import LABEL, LABELLED_AT, MEASURED_AT, PREDICTION_ID, RECEIVED_AT

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


def _hour_floor(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def partition_files(log_dir: Path, kind: Kind, start: datetime | None = None,
                    end: datetime | None = None) -> list[Path]:
    """Parquet files of the hourly partitions overlapping [start, end)."""
    root = table_dir(log_dir, kind)
    if not root.is_dir():
        return []
    lo = _hour_floor(start) if start else None
    hi = end.astimezone(UTC) if end else None
    files: list[Path] = []
    for date_dir in sorted(root.glob("date=*")):
        date = date_dir.name.removeprefix("date=")
        for hour_dir in sorted(date_dir.glob("hour=*")):
            try:
                slot = datetime.strptime(f"{date} {hour_dir.name.removeprefix('hour=')}",
                                         "%Y-%m-%d %H").replace(tzinfo=UTC)
            except ValueError:
                continue
            if (lo is not None and slot < lo) or (hi is not None and slot >= hi):
                continue
            files.extend(sorted(hour_dir.glob("*.parquet")))
    return files


def connect() -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def files_sql(files: list[Path]) -> str:
    quoted = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return f"read_parquet([{quoted}], hive_partitioning = false, union_by_name = true)"


def read_predictions(log_dir: Path, start: datetime | None = None, end: datetime | None = None,
                     *, with_labels: bool = True, scenario: str | None = None,
                     limit: int | None = None,
                     con: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """Predictions with measured_at in [start, end), oldest first, with `label`/`labelled_at`.

    If several labels exist for one prediction (two workers accepted one at the same
    moment), the earliest received wins.
    """
    import pandas as pd

    pred_files = partition_files(log_dir, "predictions", start, end)
    if not pred_files:
        return pd.DataFrame(columns=[PREDICTION_ID, MEASURED_AT, LABEL, LABELLED_AT])
    con = con or connect()
    where: list[str] = []
    params: list[object] = []
    if start is not None:
        where.append(f"{MEASURED_AT} >= ?")
        params.append(start)
    if end is not None:
        where.append(f"{MEASURED_AT} < ?")
        params.append(end)
    if scenario is not None:
        where.append("scenario = ?")
        params.append(scenario)
    cond = f"WHERE {' AND '.join(where)}" if where else ""
    label_files = partition_files(log_dir, "labels", start, end) if with_labels else []
    if label_files:
        query = f"""
            WITH p AS (SELECT * FROM {files_sql(pred_files)} {cond}),
            l AS (
                SELECT {PREDICTION_ID}, arg_min({LABEL}, {RECEIVED_AT}) AS {LABEL},
                       min({RECEIVED_AT}) AS {LABELLED_AT}
                FROM {files_sql(label_files)} GROUP BY {PREDICTION_ID}
            )
            SELECT p.*, l.{LABEL}, l.{LABELLED_AT}
            FROM p LEFT JOIN l USING ({PREDICTION_ID})
            ORDER BY {MEASURED_AT}, {PREDICTION_ID}"""
    else:
        extra = (f", CAST(NULL AS BIGINT) AS {LABEL}, CAST(NULL AS TIMESTAMPTZ) AS {LABELLED_AT}"
                 if with_labels else "")
        query = (f"SELECT *{extra} FROM {files_sql(pred_files)} {cond} "
                 f"ORDER BY {MEASURED_AT}, {PREDICTION_ID}")
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    frame = con.execute(query, params).df()
    if with_labels:
        frame[LABEL] = frame[LABEL].astype("Int64")
    return frame


def _partitions_of(prediction_ids: Iterable[str]) -> dict[tuple[str, int], list[str]]:
    """Group ids by the date/hour partition their embedded measurement time points to."""
    groups: dict[tuple[str, int], list[str]] = {}
    for pid in prediction_ids:
        t = datetime.fromtimestamp(id_codec.measured_ms(pid) / 1000, UTC)
        groups.setdefault((t.strftime("%Y-%m-%d"), t.hour), []).append(pid)
    return groups


def _matches(table: pa.Table, wanted: pa.Array) -> pa.Table:
    return table.filter(pc.is_in(table.column(PREDICTION_ID), value_set=wanted))


def lookup(log_dir: Path, kind: Kind, prediction_ids: list[str],
           arrow_schema: pa.Schema) -> dict[str, int]:
    """Which of `prediction_ids` are in the `kind` log, mapped to their measured_at (µs).

    Staged segments are read before parquet: a segment is published before it is
    deleted, so a record moving from one to the other is seen in at least one of them.
    Parquet reads are limited to the partitions the ids' embedded times point to.
    """
    wanted = pa.array(prediction_ids, pa.string())
    keys = pa.schema([arrow_schema.field(PREDICTION_ID), arrow_schema.field(MEASURED_AT)])
    found: dict[str, int] = {}

    def collect(table: pa.Table) -> None:
        hits = _matches(table, wanted)
        micros = pc.cast(hits.column(MEASURED_AT), pa.int64()).to_pylist()
        found.update(zip(hits.column(PREDICTION_ID).to_pylist(), micros, strict=True))

    for path in staging.staged_segments(log_dir, kind):
        try:
            collect(staging.read_segment(path, keys))
        except FileNotFoundError:
            continue  # published meanwhile: the parquet pass below sees it
    for (date, hour), group in _partitions_of(prediction_ids).items():
        if all(pid in found for pid in group):
            continue
        directory = partition_dir(log_dir, kind, date, hour)
        for path in sorted(directory.glob("*.parquet")) if directory.is_dir() else []:
            collect(pq.read_table(path, columns=[PREDICTION_ID, MEASURED_AT],
                                  filters=pc.field(PREDICTION_ID).isin(group)))
    return found

