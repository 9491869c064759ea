"""Prometheus metrics of the API: RED per route, predictions, inputs, labels, rejections."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from app.schema import FeatureSchema

# Around the 25 ms latency SLO: fine steps below it, coarse above.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05,
                   0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
PROBABILITY_BUCKETS = tuple(round(i / 20, 2) for i in range(1, 21))
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)

# Bounded label values for rejected inputs.
REJECT_REASONS = ("missing", "extra", "type", "not_finite", "out_of_range", "malformed_json",
                  "body_too_large", "batch_too_large", "invalid", "unknown_id", "duplicate",
                  "unauthorized")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# `*_created` series double the exposition and no dashboard or rule uses them.
disable_created_metrics()


class HistogramBuffer:
    """Observations of one histogram counted with numpy and handed over in bulk.

    prometheus_client only offers `observe(one_value)`, ~1 µs each: a 1,000-row batch
    with ten histograms would spend 10 ms there, and even a micro-batch of 10 readings
    would pay more for its histograms than for the model call. Counts accumulate here and
    `flush()` adds them to the histogram's own bucket values (the mmap-backed ones in
    multi-process mode), so exposition, merging and naming stay prometheus_client's.
    tests/test_metrics.py checks the result against `observe`.
    """

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self.bounds = np.asarray(histogram._upper_bounds, dtype=np.float64)
        self.counts = np.zeros(len(self.bounds), dtype=np.int64)
        self.total = 0.0

    def add(self, values: np.ndarray) -> None:
        if values.dtype.kind == "f":
            values = values[~np.isnan(values)]
        if len(values) == 0:
            return
        self.counts += np.bincount(np.searchsorted(self.bounds, values, side="left"),
                                   minlength=len(self.bounds))
        self.total += float(values.sum())

    def flush(self) -> None:
        for i in np.flatnonzero(self.counts):
            self.histogram._buckets[i].inc(float(self.counts[i]))
        if self.counts.any():
            self.histogram._sum.inc(self.total)
        self.counts[:] = 0
        self.total = 0.0


def metric_name(feature: str) -> str:
    return f"ventwatch_input_{feature}"


class ApiMetrics:
    """All API metrics, registered on one registry (a fresh one per app in tests)."""

    def __init__(self, registry: CollectorRegistry, schema: FeatureSchema) -> None:
        self.registry = registry
        self.requests = Counter(
            "ventwatch_http_requests", "HTTP requests by route template, method and status",
            ["route", "method", "status"], registry=registry)
        self.duration = Histogram(
            "ventwatch_http_request_duration_seconds",
            "HTTP request duration from first byte in to last byte out",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=registry)
        self.in_flight = Gauge(
            "ventwatch_http_requests_in_flight", "HTTP requests being served",
            registry=registry, multiprocess_mode="livesum")
        self.predictions = Counter(
            "ventwatch_predictions", "Predictions answered, by model version and predicted class",
            ["model_version", "predicted_class"], registry=registry)
        self.activations = Counter(
            "ventwatch_ventilation_activations",
            "Predictions whose action is to switch ventilation on",
            ["model_version"], registry=registry)
        self.probability = Histogram(
            "ventwatch_prediction_probability",
            "Predicted probability that ventilation is needed",
            ["model_version"], buckets=PROBABILITY_BUCKETS, registry=registry)
        self.batch_rows = Histogram(
            "ventwatch_inference_batch_rows",
            "Rows per model call (single readings are micro-batched)",
            buckets=BATCH_BUCKETS, registry=registry)
        self.inputs = {
            f.name: Histogram(metric_name(f.name),
                              f"Input {f.name}: {f.description} ({f.unit or 'no unit'})",
                              buckets=f.histogram_buckets(), registry=registry)
            for f in schema.features
        }
        self.missing = Counter(
            "ventwatch_input_missing", "Readings that reported no value (null) for a feature",
            ["feature"], registry=registry)
        self.labels = Counter(
            "ventwatch_labels_received", "Ground-truth labels accepted, by class",
            ["label"], registry=registry)
        self.rejected = Counter(
            "ventwatch_rejected_inputs", "Requests rejected with a 4xx, by reason",
            ["reason"], registry=registry)
        self.log_errors = Counter(
            "ventwatch_log_write_errors", "Failures to stage or publish log records",
            ["log"], registry=registry)
        self.log_rows = Counter(
            "ventwatch_log_rows_staged", "Records made durable in the staging log",
            ["log"], registry=registry)
        self.model_info = Gauge(
            "ventwatch_model_info", "The model being served (value is always 1)",
            ["name", "version", "dataset"], registry=registry, multiprocess_mode="max")
        # Children looked up once (labels() costs a lock and a dict lookup per call); they
        # also export zeros from the start, so rate() and alerts work before the first event.
        self.rejected_by = {reason: self.rejected.labels(reason) for reason in REJECT_REASONS}
        self.missing_by_feature = {f.name: self.missing.labels(f.name) for f in schema.features}
        self.log_errors_by = {kind: self.log_errors.labels(kind) for kind in ("predictions", "labels")}
        self.log_rows_by = {kind: self.log_rows.labels(kind) for kind in ("predictions", "labels")}
        self._lock = threading.Lock()
        self._version = ""
        self._inputs = {name: HistogramBuffer(h) for name, h in self.inputs.items()}
        self._batch_rows = HistogramBuffer(self.batch_rows)
        self._probability: HistogramBuffer | None = None
        self._buffers: list[HistogramBuffer] = [self._batch_rows, *self._inputs.values()]

    def observe_predictions(self, model_version: str, predicted: np.ndarray,
                            proba: np.ndarray, features: np.ndarray,
                            names: list[str]) -> None:
        """Record a scored batch; histogram counts become visible at the next `flush()`."""
        n = len(predicted)
        positives = int(predicted.sum())
        with self._lock:
            if model_version != self._version:
                self._version = model_version
                self._probability = HistogramBuffer(self.probability.labels(model_version))
                self._buffers = [self._batch_rows, self._probability, *self._inputs.values()]
            if positives:
                self.predictions.labels(model_version, "1").inc(positives)
                self.activations.labels(model_version).inc(positives)
            if n - positives:
                self.predictions.labels(model_version, "0").inc(n - positives)
            self._probability.add(proba)  # type: ignore[union-attr]
            self._batch_rows.add(np.array([n]))
            missing = np.isnan(features)
            for j, name in enumerate(names):
                column = features[:, j]
                self._inputs[name].add(column)
                if missing[:, j].any():
                    self.missing_by_feature[name].inc(int(missing[:, j].sum()))

    def flush(self) -> None:
        """Hand buffered histogram counts to prometheus_client (before a scrape, and every second)."""
        with self._lock:
            for buffer in self._buffers:
                buffer.flush()


def prepare_multiprocess_dir(path: Path) -> None:
    """Empty the shard directory before workers start (stale shards would add old counts)."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
