"""Prometheus metrics of the API: RED per route, predictions, inputs, labels, rejections."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
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
    """Observations of one histogram child, counted here and handed over in bulk.

    prometheus_client only offers `observe(one_value)`, ~1-2 µs each: a 1,000-row batch
    with ten histograms would spend 10 ms there, and on single readings the metric calls
    cost more than the rest of the request handling we add. Values accumulate here (numpy
    counts, or a plain list for one value per request) and `flush()` adds them to the
    histogram's own bucket values — the mmap-backed ones in multi-process mode — so
    exposition, merging and naming stay prometheus_client's.
    tests/test_metrics.py checks the result against `observe`.
    """

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self.bounds = np.asarray(histogram._upper_bounds, dtype=np.float64)
        self.counts = np.zeros(len(self.bounds), dtype=np.int64)
        self.total = 0.0
        self.values: list[float] = []

    def add(self, values: np.ndarray) -> None:
        if values.dtype.kind == "f":
            values = values[~np.isnan(values)]
        if len(values) == 0:
            return
        self.counts += np.bincount(np.searchsorted(self.bounds, values, side="left"),
                                   minlength=len(self.bounds))
        self.total += float(values.sum())

    def add_counts(self, counts: np.ndarray, total: float) -> None:
        self.counts += counts
        self.total += total

    def flush(self) -> None:
        if self.values:
            values, self.values = self.values, []
            self.add(np.asarray(values))
        if not self.counts.any():
            return
        for i in np.flatnonzero(self.counts):
            self.histogram._buckets[i].inc(float(self.counts[i]))
        self.histogram._sum.inc(self.total)
        self.counts[:] = 0
        self.total = 0.0


class CounterBuffer:
    """Increments of one counter child, added to it at flush time."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.pending = 0

    def flush(self) -> None:
        if self.pending:
            pending, self.pending = self.pending, 0
            self.counter.inc(pending)


class FeatureHistograms:
    """All input histograms of a batch of readings with a handful of numpy calls.

    Each feature has its own buckets; bucket indices are found per column, then offset
    into one shared index space so that a single `bincount` counts every feature, with
    NaN (no value from the sensor) sent to a separate slot and counted as missing.
    """

    def __init__(self, histograms: list[Histogram], missing: list[Any]) -> None:
        self.buffers = [HistogramBuffer(h) for h in histograms]
        self.missing = missing
        sizes = [len(b.bounds) for b in self.buffers]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.trash = int(self.offsets[-1])
        self.missing_counts = np.zeros(len(self.buffers), dtype=np.int64)

    def add(self, x: np.ndarray) -> None:
        nan = np.isnan(x)
        index = np.empty(x.shape, dtype=np.int64)
        for j, buffer in enumerate(self.buffers):
            index[:, j] = np.searchsorted(buffer.bounds, x[:, j], side="left")
        index += self.offsets[:-1]
        if nan.any():
            index[nan] = self.trash
            self.missing_counts += nan.sum(axis=0)
        counts = np.bincount(index.ravel(), minlength=self.trash + 1)
        sums = np.nansum(x, axis=0)
        for j, buffer in enumerate(self.buffers):
            buffer.add_counts(counts[self.offsets[j]:self.offsets[j + 1]], float(sums[j]))

    def flush(self) -> None:
        for buffer in self.buffers:
            buffer.flush()
        for j in np.flatnonzero(self.missing_counts):
            self.missing[j].inc(int(self.missing_counts[j]))
        self.missing_counts[:] = 0


def metric_name(feature: str) -> str:
    return f"ventwatch_input_{feature}"


class ApiMetrics:
    """All API metrics, registered on one registry (a fresh one per app in tests)."""

    def __init__(self, registry: CollectorRegistry, schema: FeatureSchema) -> None:
        self.registry = registry
        # CPU and resident memory of this process for the dashboards (single-process mode;
        # with several workers /metrics merges their shards, which hold no process metrics).
        ProcessCollector(registry=registry)
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
        self.log_errors_by = {kind: self.log_errors.labels(kind) for kind in ("predictions", "labels")}
        self.log_rows_by = {kind: self.log_rows.labels(kind) for kind in ("predictions", "labels")}
        self._lock = threading.Lock()  # batches are scored on worker threads too
        self._features = FeatureHistograms(
            list(self.inputs.values()), [self.missing.labels(f.name) for f in schema.features])
        self._batch_rows = HistogramBuffer(self.batch_rows)
        self._by_version: dict[str, tuple[HistogramBuffer, CounterBuffer, CounterBuffer]] = {}
        # Per request (event loop only): (route, method, status) -> count, (route, method) -> durations.
        self._requests: dict[tuple[str, str, int], CounterBuffer] = {}
        self._durations: dict[tuple[str, str], HistogramBuffer] = {}

    def observe_predictions(self, model_version: str, predicted: np.ndarray,
                            proba: np.ndarray, features: np.ndarray,
                            names: list[str]) -> None:
        """Record a scored batch; counts become visible at the next `flush()`."""
        n = len(predicted)
        positives = int(predicted.sum())
        with self._lock:
            buffers = self._by_version.get(model_version)
            if buffers is None:
                buffers = self._by_version[model_version] = (
                    HistogramBuffer(self.probability.labels(model_version)),
                    CounterBuffer(self.predictions.labels(model_version, "1")),
                    CounterBuffer(self.predictions.labels(model_version, "0")))
                self.activations.labels(model_version)
            probability, activate, idle = buffers
            activate.pending += positives
            idle.pending += n - positives
            probability.add(proba)
            self._batch_rows.values.append(n)
            self._features.add(features)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One HTTP request (called on the event loop by the edge middleware)."""
        key = (route, method, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = CounterBuffer(self.requests.labels(route, method, str(status)))
        counter.pending += 1
        durations = self._durations.get((route, method))
        if durations is None:
            durations = self._durations[(route, method)] = HistogramBuffer(
                self.duration.labels(route, method))
        durations.values.append(seconds)

    def flush(self) -> None:
        """Hand buffered observations to prometheus_client (before a scrape, and every second)."""
        with self._lock:
            self._features.flush()
            self._batch_rows.flush()
            for version, (probability, activate, idle) in self._by_version.items():
                if activate.pending:
                    self.activations.labels(version).inc(activate.pending)
                probability.flush()
                activate.flush()
                idle.flush()
        for counter in list(self._requests.values()):
            counter.flush()
        for durations in list(self._durations.values()):
            durations.flush()


def prepare_multiprocess_dir(path: Path) -> None:
    """Empty the shard directory before workers start (stale shards would add old counts)."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
