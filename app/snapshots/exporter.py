"""The snapshot service's /metrics: the latest window's numbers, read at scrape time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.snapshots.job import SnapshotJob
from app.snapshots.windows import Window

# Windows over which label coverage is summed (labels arrive late; the newest window
# alone is always poorly covered).
COVERAGE_WINDOWS = 24


@dataclass
class RunStats:
    """Counters of the service loop, guarded by a lock (the HTTP server thread reads them)."""

    succeeded: int = 0
    failed: int = 0
    snapshots_written: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _gauge(name: str, doc: str, value: float | None, labels: dict[str, str] | None = None,
           ) -> GaugeMetricFamily | None:
    if value is None:
        return None
    family = GaugeMetricFamily(name, doc, labels=list(labels) if labels else None)
    family.add_metric(list(labels.values()) if labels else [], value)
    return family


class SnapshotCollector(Collector):
    """Values of the latest snapshots, computed by the job and exported as they are."""

    def __init__(self, job: SnapshotJob, stats: RunStats) -> None:
        self.job = job
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        job, state = self.job, self.job.state
        info = GaugeMetricFamily("ventwatch_snapshot_info", "Project the job writes (always 1)",
                                 labels=["project", "project_id", "model_version", "window"])
        info.add_metric([job.project_name, job.project_id, job.version,
                         str(int(job.window.total_seconds()))], 1)
        yield info
        # The thresholds the job tests against, so alert rules and dashboards compare with
        # the configured values instead of restating them.
        settings = job.settings
        for name, doc, value in (
                ("ventwatch_drift_share_threshold", "Dataset drift: share of drifted features "
                 "at or above this", settings.drift_share_threshold),
                ("ventwatch_model_accuracy_floor", "Accuracy below this fails the window's test",
                 settings.accuracy_floor),
                ("ventwatch_model_f1_floor", "F1 below this fails the window's test "
                 "(when the window has enough positive labels)", settings.f1_floor),
                ("ventwatch_label_coverage_floor", "Recent label coverage below this is too low "
                 "to monitor quality", settings.label_coverage_floor),
                ("ventwatch_snapshot_interval_seconds", "How often the job runs",
                 settings.snapshot_every.total_seconds())):
            yield GaugeMetricFamily(name, doc, value=value)
        with self.stats.lock:
            runs = CounterMetricFamily("ventwatch_snapshot_runs", "Snapshot job runs by result",
                                       labels=["result"])
            runs.add_metric(["success"], self.stats.succeeded)
            runs.add_metric(["failure"], self.stats.failed)
            yield runs
            yield CounterMetricFamily("ventwatch_snapshots_written",
                                      "Window and roll-up snapshots (re)built",
                                      value=self.stats.snapshots_written)
        families = [
            _gauge("ventwatch_snapshot_last_success_timestamp_seconds",
                   "When a snapshot run last completed", state.last_success),
            _gauge("ventwatch_snapshot_run_duration_seconds", "Duration of the last run",
                   state.last_duration),
            _gauge("ventwatch_snapshot_windows_pending", "Windows with data, not closed yet",
                   float(len(state.pending))),
        ]
        yield from (f for f in families if f is not None)
        thresholds = GaugeMetricFamily("ventwatch_feature_drift_threshold",
                                       "Calibrated drift threshold per feature (normed Wasserstein)",
                                       labels=["feature"])
        for feature, value in state.thresholds.items():
            thresholds.add_metric([feature], value)
        yield thresholds

        latest = job.latest()
        if latest is not None:
            key, entry = latest
            v = entry.values
            start = Window.from_key(key, job.window).start
            yield from (f for f in [
                _gauge("ventwatch_window_start_timestamp_seconds",
                       "Start of the latest snapshotted window", start.timestamp()),
                _gauge("ventwatch_window_rows", "Predictions in the latest window", float(entry.rows)),
                _gauge("ventwatch_drift_share", "Share of features drifting in the latest window",
                       v.get("drift_share")),
                _gauge("ventwatch_drift_detected",
                       "1 if the latest window's drift share reached the threshold",
                       None if "drift_share" not in v else
                       float(v["drift_share"] >= job.settings.drift_share_threshold)),
                _gauge("ventwatch_prediction_drift_score",
                       "Drift of the predicted probability in the latest window",
                       v.get("prediction_drift")),
                _gauge("ventwatch_activation_ratio", "Share of predictions that activate ventilation",
                       v.get("activation_rate")),
                _gauge("ventwatch_window_tests_failed", "Failed tests in the latest window",
                       v.get("tests_failed")),
                _gauge("ventwatch_label_coverage_ratio", "Share of the latest window's rows labelled",
                       v.get("label_coverage")),
            ] if f is not None)
            scores = GaugeMetricFamily("ventwatch_feature_drift_score",
                                       "Drift score per feature in the latest window (normed Wasserstein)",
                                       labels=["feature"])
            detected = GaugeMetricFamily("ventwatch_feature_drift_detected",
                                         "1 if the feature drifted in the latest window",
                                         labels=["feature"])
            stuck = GaugeMetricFamily(
                "ventwatch_feature_stuck",
                "1 if the feature's readings in the latest window were flatter than clean reference "
                "days are at those hours (standard deviation below its floor)", labels=["feature"])
            spread = GaugeMetricFamily("ventwatch_feature_stddev",
                                       "Standard deviation of the feature in the latest window, "
                                       "where it was tested against a floor", labels=["feature"])
            floors = GaugeMetricFamily("ventwatch_feature_stddev_floor",
                                       "Standard deviation below which the feature counts as stuck "
                                       "in the latest window (none where clean readings can be flat "
                                       "at those hours)", labels=["feature"])
            for feature in job.schema.names:
                if f"drift:{feature}" in v:
                    scores.add_metric([feature], v[f"drift:{feature}"])
                    detected.add_metric([feature], v[f"drift_detected:{feature}"])
                    # 0 also where there was no floor to test: one series per feature throughout.
                    stuck.add_metric([feature], v.get(f"stuck:{feature}", 0.0))
                if f"std:{feature}" in v:
                    spread.add_metric([feature], v[f"std:{feature}"])
                    floors.add_metric([feature], v[f"stuck_floor:{feature}"])
            yield from (scores, detected, stuck, spread, floors)
        recent = [job.state.windows[k] for k in sorted(job.state.windows)[-COVERAGE_WINDOWS:]]
        rows = sum(e.rows for e in recent)
        if rows:
            yield GaugeMetricFamily(
                "ventwatch_label_coverage_recent_ratio",
                f"Share of rows labelled over the last {COVERAGE_WINDOWS} windows",
                value=sum(e.labelled for e in recent) / rows)
        labelled = job.latest_labelled()
        if labelled is not None:
            key, entry = labelled
            yield GaugeMetricFamily("ventwatch_labelled_window_start_timestamp_seconds",
                                    "Start of the latest window with quality metrics",
                                    value=Window.from_key(key, job.window).start.timestamp())
            for name, doc in (("accuracy", "Accuracy"), ("f1", "F1 score"),
                              ("precision", "Precision"), ("recall", "Recall"),
                              ("roc_auc", "ROC AUC")):
                if name in entry.values:
                    yield GaugeMetricFamily(f"ventwatch_model_{name}",
                                            f"{doc} on the labelled rows of the latest labelled window",
                                            value=entry.values[name])
            if "f1_tested" in entry.values:
                # F1 of a quiet night (a handful of positives) is 0 or 1 by chance: alert rules
                # hold F1 to its floor only where the window's own test did.
                yield GaugeMetricFamily(
                    "ventwatch_model_f1_tested",
                    "1 if the latest labelled window had enough positive labels for its F1 test",
                    value=entry.values["f1_tested"])


def registry_for(job: SnapshotJob, stats: RunStats) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(job, stats))
    ProcessCollector(registry=registry)  # process_cpu_seconds_total, process_resident_memory_bytes
    return registry


def iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).isoformat() if ts else "never"
