"""Arrow schemas of the prediction and label logs, derived from the feature schema."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyarrow as pa

from app.schema import (
    LABEL,
    LATENCY,
    MEASURED_AT,
    MODEL_VERSION,
    PREDICTED_CLASS,
    PREDICTION_ID,
    PROBABILITY,
    RECEIVED_AT,
    SCENARIO,
    FeatureSchema,
)

Kind = Literal["predictions", "labels"]
TIMESTAMP = pa.timestamp("us", tz="UTC")
# Timestamps travel through the staging file as integer microseconds since the epoch.
TIME_COLUMNS = (RECEIVED_AT, MEASURED_AT)


def predictions_schema(schema: FeatureSchema) -> pa.Schema:
    """Columns of a prediction record; features are nullable (a sensor may report no value)."""
    features = [
        pa.field(f.name, pa.int64() if f.dtype == "int" else pa.float64(), nullable=True,
                 metadata={"unit": f.unit, "min": str(f.min), "max": str(f.max)})
        for f in schema.features
    ]
    return pa.schema([
        pa.field(PREDICTION_ID, pa.string(), nullable=False),
        pa.field(RECEIVED_AT, TIMESTAMP, nullable=False),
        pa.field(MEASURED_AT, TIMESTAMP, nullable=False),
        pa.field(MODEL_VERSION, pa.string(), nullable=False),
        pa.field(SCENARIO, pa.string()),
        *features,
        pa.field(PREDICTED_CLASS, pa.int64(), nullable=False),
        pa.field(PROBABILITY, pa.float64(), nullable=False),
        pa.field(LATENCY, pa.float64(), nullable=False),
    ])


# A label is stored in the partition of the prediction it labels (by that prediction's
# measured_at), so a window's labels sit next to its predictions.
LABELS_SCHEMA = pa.schema([
    pa.field(PREDICTION_ID, pa.string(), nullable=False),
    pa.field(LABEL, pa.int64(), nullable=False),
    pa.field(RECEIVED_AT, TIMESTAMP, nullable=False),
    pa.field(MEASURED_AT, TIMESTAMP, nullable=False),
])


def arrow_schema(kind: Kind, schema: FeatureSchema) -> pa.Schema:
    return predictions_schema(schema) if kind == "predictions" else LABELS_SCHEMA


def table_dir(log_dir: Path, kind: Kind) -> Path:
    return log_dir / kind


def staging_dir(log_dir: Path, kind: Kind) -> Path:
    return log_dir / "_staging" / kind


def partition_dir(log_dir: Path, kind: Kind, date: str, hour: int) -> Path:
    """Hive-style `date=YYYY-MM-DD/hour=HH` directory, readable by DuckDB, Spark, Trino."""
    return table_dir(log_dir, kind) / f"date={date}" / f"hour={hour:02d}"
