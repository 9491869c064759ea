"""The replay ledger: the ground truth of each reading a replay got acknowledged, kept for its labels.

The prediction log only holds what the sensors reported; with a faulty sensor the truth
comes from the true air, which only the replay knew. So a replay writes, next to the
runtime state (`VENTWATCH_RUN_DIR/replays/`), one parquet file of
(prediction_id, measured_at, scenario, truth); label submission looks ids up there.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from app.schema import MEASURED_AT, PREDICTION_ID, SCENARIO

TRUTH = "truth"
SCHEMA = pa.schema([
    pa.field(PREDICTION_ID, pa.string()),
    pa.field(MEASURED_AT, pa.timestamp("us", tz="UTC")),
    pa.field(SCENARIO, pa.string()),
    pa.field(TRUTH, pa.int8()),
])


def ledger_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "replays"


def write(run_dir: Path, name: str, ids: Sequence[str], measured_at: np.ndarray, scenario: str,
          truth: np.ndarray) -> Path:
    """One replay's entries (`measured_at`: naive datetime64 in UTC), written atomically."""
    directory = ledger_dir(run_dir)
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.table({
        PREDICTION_ID: pa.array(list(ids), pa.string()),
        # Naive datetime64 values are UTC; the cast only attaches the zone.
        MEASURED_AT: pa.array(np.asarray(measured_at).astype("datetime64[us]"), pa.timestamp("us")).cast(
            pa.timestamp("us", tz="UTC")),
        SCENARIO: pa.array([scenario] * len(ids), pa.string()),
        TRUTH: pa.array(np.asarray(truth, dtype=np.int8), pa.int8()),
    }, schema=SCHEMA)
    path = directory / f"{name}.parquet"
    fd, tmp = tempfile.mkstemp(prefix=".ledger-", suffix=".parquet", dir=directory)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def truth_for(run_dir: Path, prediction_ids: Sequence[str]) -> dict[str, int]:
    """The recorded truth of those `prediction_ids` that some replay wrote down."""
    directory = ledger_dir(run_dir)
    files = sorted(str(p) for p in directory.glob("*.parquet")) if directory.is_dir() else []
    if not files or not prediction_ids:
        return {}
    dataset = ds.dataset(files, schema=SCHEMA, format="parquet")
    wanted = pa.array(list(prediction_ids), pa.string())
    table = dataset.to_table(columns=[PREDICTION_ID, TRUTH],
                             filter=pc.field(PREDICTION_ID).isin(wanted))
    return dict(zip(table.column(PREDICTION_ID).to_pylist(), table.column(TRUTH).to_pylist(),
                    strict=True))
