"""Reading windows out of the log with DuckDB: exact counts, and at most `max_rows` rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from app.log.reader import connect, files_sql, partition_files
from app.schema import LABEL, MEASURED_AT, MODEL_VERSION, PREDICTION_ID, RECEIVED_AT

SAMPLE_SEED = 42


@dataclass
class WindowData:
    """A window's rows for one model version: exact counts, rows for Evidently (maybe sampled)."""

    rows: int
    labelled: int
    data: pd.DataFrame  # all rows, or a seeded uniform sample of max_rows
    labelled_data: pd.DataFrame  # labelled rows, or a seeded sample of max_rows of them
    scenarios: list[str]

    @property
    def coverage(self) -> float:
        return self.labelled / self.rows if self.rows else 0.0

    @property
    def sampled(self) -> bool:
        return len(self.data) < self.rows


class LogQueries:
    """DuckDB over the parquet log, restricted to one model version."""

    def __init__(self, log_dir: Path, model_version: str) -> None:
        self.log_dir = log_dir
        self.version = model_version
        self.con: duckdb.DuckDBPyConnection = connect()

    def _joined(self, start: datetime, end: datetime) -> str | None:
        preds = partition_files(self.log_dir, "predictions", start, end)
        if not preds:
            return None
        labels = partition_files(self.log_dir, "labels", start, end)
        label_sql = (f"(SELECT {PREDICTION_ID}, arg_min({LABEL}, {RECEIVED_AT}) AS {LABEL} "
                     f"FROM {files_sql(labels)} GROUP BY 1)" if labels else
                     f"(SELECT NULL::VARCHAR AS {PREDICTION_ID}, NULL::BIGINT AS {LABEL} LIMIT 0)")
        return (f"(SELECT p.*, l.{LABEL} FROM {files_sql(preds)} p "
                f"LEFT JOIN {label_sql} l USING ({PREDICTION_ID}) "
                f"WHERE p.{MEASURED_AT} >= $start AND p.{MEASURED_AT} < $end "
                f"AND p.{MODEL_VERSION} = $version)")

    def window(self, start: datetime, end: datetime, max_rows: int) -> WindowData | None:
        joined = self._joined(start, end)
        if joined is None:
            return None
        params = {"start": start, "end": end, "version": self.version}
        rows, labelled = self.con.execute(
            f"SELECT count(*), count({LABEL}) FROM {joined}", params).fetchall()[0]
        if rows == 0:
            return None
        scenarios = [s for (s,) in self.con.execute(
            f"SELECT DISTINCT coalesce(scenario, '') FROM {joined} ORDER BY 1", params).fetchall()]

        def fetch(where: str, count: int) -> pd.DataFrame:
            # Above the cap, a seeded reservoir sample: Evidently's cost grows with rows, the
            # drift distances and quality metrics it computes barely move past ~100k rows.
            sample = (f" USING SAMPLE reservoir({max_rows} ROWS) REPEATABLE ({SAMPLE_SEED})"
                      if count > max_rows else "")
            query = f"SELECT * FROM (SELECT * FROM {joined} {where}){sample}"
            return self.con.execute(query, params).df()

        return WindowData(rows=int(rows), labelled=int(labelled), data=fetch("", rows),
                          labelled_data=fetch(f"WHERE {LABEL} IS NOT NULL", labelled),
                          scenarios=[s for s in scenarios if s])

    def fingerprints(self, hours: list[datetime], window: timedelta) -> dict[datetime, str]:
        """window start -> 'predictions:labels' counts, for the windows in these hours."""
        if not hours:
            return {}
        start, end = min(hours), max(hours) + timedelta(hours=1)
        preds = [f for h in hours for f in partition_files(self.log_dir, "predictions", h,
                                                           h + timedelta(hours=1))]
        if not preds:
            return {}
        labels = [f for h in hours for f in partition_files(self.log_dir, "labels", h,
                                                            h + timedelta(hours=1))]
        seconds = int(window.total_seconds())
        bucket = (f"to_timestamp(floor(epoch({MEASURED_AT}) / {seconds}) * {seconds})")
        params = {"start": start, "end": end, "version": self.version}
        counts: dict[datetime, list[int]] = {}
        for w, n in self.con.execute(
                f"SELECT {bucket} AS w, count(*) FROM {files_sql(preds)} "
                f"WHERE {MODEL_VERSION} = $version AND {MEASURED_AT} >= $start "
                f"AND {MEASURED_AT} < $end GROUP BY 1", params).fetchall():
            counts[w] = [n, 0]
        if labels:
            for w, n in self.con.execute(
                    f"SELECT {bucket} AS w, count(*) FROM {files_sql(labels)} "
                    f"WHERE {MEASURED_AT} >= $start AND {MEASURED_AT} < $end GROUP BY 1",
                    {"start": start, "end": end}).fetchall():
                if w in counts:
                    counts[w][1] = n
        return {w: f"{n}:{m}" for w, (n, m) in counts.items()}

    def watermark(self, latest_hour: datetime | None) -> datetime | None:
        """The newest measured_at in the log (for windows of replays running ahead of the clock)."""
        if latest_hour is None:
            return None
        files = partition_files(self.log_dir, "predictions", latest_hour,
                                latest_hour + timedelta(hours=1))
        if not files:
            return None
        value = self.con.execute(f"SELECT max({MEASURED_AT}) FROM {files_sql(files)}").fetchall()[0][0]
        return value
