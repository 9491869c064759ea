"""One window's Evidently 0.7 report: built from the feature schema, read back by metric type.

A window snapshot merges up to three report runs:
- data (all rows, or a sample above the row cap): drift per feature and of the predicted
  probability against the seasonal reference, with calibrated thresholds as explicit
  tests; drifted-feature share with its own test; standard deviation per feature with a
  floor from the same reference slice as a test (a stuck sensor); missing share (with a
  test) and mean per feature; activation rate; exact row count and label coverage;
- quality (labelled rows only, once there are enough): accuracy, precision, recall, F1,
  ROC AUC, with floors as tests;
- test counts (passed/failed), so the dashboard can plot them.
No default tests (they compare row counts with the reference and fail small windows).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.core.metric_types import SingleValue, SingleValueCalculation, SingleValueMetric
from evidently.core.report import Snapshot
from evidently.core.serialization import SnapshotModel
from evidently.metrics import (
    Accuracy,
    DriftedColumnsCount,
    F1Score,
    MeanValue,
    MissingValueCount,
    Precision,
    Recall,
    RocAuc,
    StdValue,
    ValueDrift,
)
from evidently.tests import gte, lt, lte

from app.schema import LABEL, MEASURED_AT, PREDICTED_CLASS, PROBABILITY
from app.snapshots.reference import DRIFT_METHOD

# Positive labels a window needs before its F1 is held to the floor.
MIN_POSITIVES_FOR_F1 = 10
# Readings of a feature a window needs before its spread is held to the floor: a handful of
# readings of a slow signal can all be equal by chance.
MIN_VALUES_FOR_SPREAD = 10
# Values computed exactly outside Evidently (on all rows, even when the report samples).
ROWS, LABELLED, LABEL_COVERAGE = "rows", "labelled_rows", "label_coverage"
TESTS_PASSED, TESTS_FAILED = "tests_passed", "tests_failed"
PASSED, FAILED = ("SUCCESS", "WARNING"), ("FAIL", "ERROR")


class ExternalValue(SingleValueMetric):
    """A number computed outside Evidently, passed in through the dataset's metadata.

    The value is not a metric parameter: parameters name the dashboard series, so a value
    there would make one series per snapshot.
    """

    key: str


class ExternalValueCalculation(SingleValueCalculation[ExternalValue]):
    def calculate(self, context: Any, current_data: Dataset,
                  reference_data: Dataset | None) -> Any:
        return self.result(float(current_data.metadata[self.metric.key]))

    def display_name(self) -> str:
        return self.metric.key.replace("_", " ").capitalize()


@dataclass(frozen=True)
class ReportConfig:
    """Everything a window report depends on; derived from the schema, settings and calibration."""

    features: list[str]
    thresholds: dict[str, float]  # per feature and for the probability
    drift_share_threshold: float
    accuracy_floor: float
    f1_floor: float
    positive_class: int
    min_labelled: int
    max_missing_share: float = 0.1

    def data_definition(self) -> DataDefinition:
        return DataDefinition(timestamp=MEASURED_AT,
                              numerical_columns=[*self.features, PROBABILITY],
                              categorical_columns=[PREDICTED_CLASS])

    def quality_definition(self) -> DataDefinition:
        return DataDefinition(
            timestamp=MEASURED_AT,
            numerical_columns=[*self.features, PROBABILITY],
            categorical_columns=[PREDICTED_CLASS, LABEL],
            classification=[BinaryClassification(target=LABEL, prediction_labels=PREDICTED_CLASS,
                                                 prediction_probas=PROBABILITY,
                                                 pos_label=self.positive_class)])

    def data_metrics(self, data: pd.DataFrame, floors: dict[str, float] | None = None) -> list[Any]:
        """Metrics over the window's rows `data`; `floors`: standard deviation per feature below
        which it counts as stuck (0 or absent: no floor at this time of day).

        A feature with no value at all (a dead sensor) cannot be compared: it is left out of
        the drift metrics for that window, and its missing-share test fails instead.
        """
        th = self.thresholds
        counts = data[self.features].count()
        present = [c for c in self.features if counts[c] > 0]
        drift = [ValueDrift(column=c, method=DRIFT_METHOD, threshold=th[c], tests=[lt(th[c])])
                 for c in present]
        # A stuck sensor sits inside its usual range, where drift hardly moves: its spread
        # is tested instead. Only where there is a floor (each StdValue adds a widget).
        floors = floors or {}
        spread = [StdValue(column=c, tests=[gte(floors[c])]) for c in present
                  if floors.get(c, 0) > 0 and counts[c] >= MIN_VALUES_FOR_SPREAD]
        summary = [MissingValueCount(column=c, share_tests=[lte(self.max_missing_share)])
                   for c in self.features]
        # Mean per feature; min/max were dropped: each costs a 10 KB widget per feature and
        # window in the UI's memory, and drift (unit errors) and spread (stuck sensors) cover
        # what they would show.
        summary += [MeanValue(column=c) for c in present]
        return [
            DriftedColumnsCount(columns=present, method=DRIFT_METHOD,
                                per_column_threshold={c: th[c] for c in present},
                                share_tests=[lt(self.drift_share_threshold)]),
            *drift,
            *spread,
            ValueDrift(column=PROBABILITY, method=DRIFT_METHOD, threshold=th[PROBABILITY],
                       tests=[lt(th[PROBABILITY])]),
            MeanValue(column=PREDICTED_CLASS),
            ExternalValue(key=ROWS), ExternalValue(key=LABELLED), ExternalValue(key=LABEL_COVERAGE),
            *summary,
        ]

    def quality_metrics(self, labels: pd.Series) -> list[Any]:
        """Quality metrics for these labels; a floor is tested only where the metric means something.

        F1 on a window with a handful of positive labels (a quiet night) is 0 or 1 by chance,
        and ROC AUC is undefined with a single class.
        """
        positives = int((labels == self.positive_class).sum())
        f1_tests = [gte(self.f1_floor)] if positives >= MIN_POSITIVES_FOR_F1 else None
        metrics = [Accuracy(tests=[gte(self.accuracy_floor)]), Precision(), Recall(),
                   F1Score(tests=f1_tests)]
        if labels.nunique() == 2:
            metrics.append(RocAuc())
        return metrics


def _merge(models: list[SnapshotModel]) -> SnapshotModel:
    """Results of several runs over one window as one snapshot (SnapshotModel fields are public)."""
    merged = models[0]
    for other in models[1:]:
        merged.metric_results.update(other.metric_results)
        merged.top_level_metrics += [m for m in other.top_level_metrics
                                     if m not in merged.top_level_metrics]
        merged.widgets += other.widgets
        merged.tests_widgets += other.tests_widgets
    return merged


def _status(test: Any) -> str:
    return str(getattr(test.status, "value", test.status))


def _count_tests(models: list[SnapshotModel]) -> tuple[int, int]:
    """(passed, failed): a WARNING passes, an ERROR fails, a SKIPPED test is neither."""
    statuses = [_status(t) for model in models for result in model.metric_results.values()
                for t in result.tests]
    return (sum(s in PASSED for s in statuses), sum(s in FAILED for s in statuses))


def build_snapshot(cfg: ReportConfig, data: pd.DataFrame, labelled: pd.DataFrame,
                   reference: pd.DataFrame, *, timestamp: datetime, exact: dict[str, float],
                   tags: list[str], metadata: dict[str, str], name: str,
                   floors: dict[str, float] | None = None) -> SnapshotModel:
    """Run the reports for one window.

    `data`: the window's rows (possibly a sample), `labelled`: its labelled rows (possibly
    a sample), `reference`: seasonal reference rows with `label`; `exact`: rows, labelled
    rows and label coverage over the whole window; `floors`: spread floors per feature.
    """
    # Evidently wants naive UTC timestamps consistently (mixing them breaks dashboards).
    stamp = timestamp.replace(tzinfo=None)
    run = {"timestamp": stamp, "tags": tags, "metadata": metadata, "name": name}
    columns = [MEASURED_AT, *cfg.features, PROBABILITY, PREDICTED_CLASS]
    models = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate windows warn (e.g. constant columns)
        dd = cfg.data_definition()
        current = Dataset.from_pandas(naive(data[columns]), data_definition=dd,
                                      metadata={k: float(v) for k, v in exact.items()})
        ref = Dataset.from_pandas(naive(reference[columns]), data_definition=dd)
        models.append(Report(cfg.data_metrics(data, floors)).run(current, ref, **run).to_snapshot_model())
        if len(labelled) >= cfg.min_labelled:
            qd = cfg.quality_definition()
            lab = naive(labelled[[*columns, LABEL]].astype({LABEL: "int64"}))
            ref_lab = naive(reference[[*columns, LABEL]].astype({LABEL: "int64"}))
            models.append(Report(cfg.quality_metrics(lab[LABEL])).run(
                Dataset.from_pandas(lab, data_definition=qd),
                Dataset.from_pandas(ref_lab, data_definition=qd), **run).to_snapshot_model())
        passed, failed = _count_tests(models)
        counts = Dataset.from_pandas(pd.DataFrame({"n": [0]}),
                                     metadata={TESTS_PASSED: passed, TESTS_FAILED: failed})
        models.append(Report([ExternalValue(key=TESTS_PASSED), ExternalValue(key=TESTS_FAILED)])
                      .run(counts, None, **run).to_snapshot_model())
    merged = _merge(models)
    # Each result also carries a copy of its widgets; the UI's report page and the HTML
    # export read the snapshot-level list only, so the copies just double the file (and
    # the UI's memory, which holds every snapshot).
    for result in merged.metric_results.values():
        result.widget = None
    return merged


def naive(frame: pd.DataFrame) -> pd.DataFrame:
    if MEASURED_AT in frame and getattr(frame[MEASURED_AT].dt, "tz", None) is not None:
        frame = frame.assign(**{MEASURED_AT: frame[MEASURED_AT].dt.tz_convert("UTC").dt.tz_localize(None)})
    return frame


# Reading values back, by metric type and parameters (never by position).

def _type(result: Any) -> str:
    return str(result.metric_value_location.metric.params["type"]).rsplit(":", 1)[-1]


def _params(result: Any) -> dict[str, Any]:
    return dict(result.metric_value_location.metric.params)


def values(model: SnapshotModel, features: list[str]) -> dict[str, float]:
    """Flat name -> value of what dashboards, alerts and tests read from a window snapshot.

    Names: drift_share, drifted_features, drift:<feature>, drift_detected:<feature>,
    prediction_drift, activation_rate, rows, labelled_rows, label_coverage, accuracy,
    precision, recall, f1, f1_tested (1 if F1 was held to its floor), roc_auc, tests_passed,
    tests_failed, missing:<feature>; where the spread was tested: std:<feature>,
    stuck_floor:<feature> and stuck:<feature> (1 if below its floor).
    """
    out: dict[str, float] = {}
    simple = {"Accuracy": "accuracy", "Precision": "precision", "Recall": "recall",
              "F1Score": "f1", "RocAuc": "roc_auc"}
    for result in model.metric_results.values():
        kind, params = _type(result), _params(result)
        column = params.get("column")
        if kind == "DriftedColumnsCount":
            out["drift_share"] = float(result.share.value)
            out["drifted_features"] = float(result.count.value)
        elif kind == "ValueDrift":
            score, threshold = float(result.value), float(params["threshold"])
            name = "prediction_drift" if column == PROBABILITY else f"drift:{column}"
            out[name] = score
            out[name.replace("drift", "drift_detected", 1)] = float(score >= threshold)
        elif kind == "StdValue" and column in features and result.tests:
            out[f"std:{column}"] = float(result.value)
            out[f"stuck_floor:{column}"] = float(params["tests"][0]["threshold"])
            out[f"stuck:{column}"] = float(any(_status(t) in FAILED for t in result.tests))
        elif kind == "MeanValue" and column == PREDICTED_CLASS:
            out["activation_rate"] = float(result.value)
        elif kind == "MissingValueCount" and column in features:
            out[f"missing:{column}"] = float(result.share.value)
        elif kind == "ExternalValue":
            out[params["key"]] = float(result.value)
        elif kind in simple and isinstance(result, SingleValue):
            out[simple[kind]] = float(result.value)
            if kind == "F1Score":
                out["f1_tested"] = float(bool(result.tests))
    return {k: v for k, v in out.items() if not (isinstance(v, float) and math.isnan(v))}


def lean(model: SnapshotModel, keep: set[str]) -> SnapshotModel:
    """The same snapshot without widgets (the report page) and without metrics outside `keep`.

    What stays is what the dashboard plots and what the tests say: ~20 KB instead of
    ~0.6 MB, which is what keeps the Evidently UI (it loads every snapshot into memory)
    usable as history grows. Of the MeanValue metrics only the activation rate is plotted.
    """
    kept = {mid: r for mid, r in model.metric_results.items()
            if _type(r) in keep and (_type(r) != "MeanValue"
                                     or _params(r).get("column") == PREDICTED_CLASS)}
    for result in kept.values():
        result.widget = None
    return model.copy(update={"metric_results": kept,
                              "top_level_metrics": [m for m in model.top_level_metrics if m in kept],
                              "widgets": [], "tests_widgets": []})


def to_json(model: SnapshotModel) -> str:
    """The JSON the Evidently workspace stores for a snapshot."""
    return Snapshot.load_model(model).dumps()
