"""The project dashboard, as code: generated from the feature schema, saved in one call."""

from __future__ import annotations

import uuid

from evidently.sdk.models import DashboardModel, DashboardPanelPlot, DashboardTabModel, PanelMetric
from evidently.sdk.panels import bar_plot_panel, counter_panel, line_plot_panel, text_panel

from app.schema import PREDICTED_CLASS, PROBABILITY, FeatureSchema
from app.snapshots.report import LABEL_COVERAGE, LABELLED, ROWS, TESTS_FAILED, TESTS_PASSED
from app.snapshots.store import stable_id


def _m(metric: str, legend: str, **labels: str) -> PanelMetric:
    return PanelMetric(metric=metric, legend=legend, metric_labels=labels)


def _ext(key: str, legend: str) -> PanelMetric:
    return _m("ExternalValue", legend, key=key)


def build(schema: FeatureSchema, model_name: str, version: str, window: str) -> DashboardModel:
    """Panels in reading order (the 0.7.23 UI shows one page, ignoring tabs)."""
    features = schema.names
    sections: dict[str, list[DashboardPanelPlot]] = {
        "Overview": [
            text_panel(f"{model_name} {version}",
                       f"One snapshot per {window} window of measured_at; older history rolled up "
                       f"daily. Drift is measured against reference rows from the same hours of the "
                       f"same kind of day, with thresholds calibrated on the reference; each "
                       f"feature's spread is held to a stuck-sensor floor from the same hours."),
            counter_panel("Predictions (all windows)", [_ext(ROWS, "rows")], size="half",
                          aggregation="sum"),
            counter_panel("Failed tests (all windows)", [_ext(TESTS_FAILED, "failed tests")],
                          size="half", aggregation="sum"),
        ],
        "Drift": [
            line_plot_panel("Share of drifted features",
                            [_m("DriftedColumnsCount", "drift share", value_type="share")],
                            size="half"),
            line_plot_panel("Prediction drift (probability, normed Wasserstein)",
                            [_m("ValueDrift", "probability", column=PROBABILITY)], size="half"),
            line_plot_panel("Per-feature drift score (normed Wasserstein)",
                            [_m("ValueDrift", "{{column}}", column=c) for c in features]),
        ],
        "Predictions": [
            line_plot_panel("Ventilation activation rate",
                            [_m("MeanValue", "activation rate", column=PREDICTED_CLASS)],
                            size="half"),
            bar_plot_panel("Rows per window",
                           [_ext(ROWS, "rows"), _ext(LABELLED, "labelled rows")], size="half"),
        ],
        "Quality": [
            line_plot_panel("Accuracy, F1, precision, recall, ROC AUC (labelled rows)", [
                _m("Accuracy", "accuracy"), _m("F1Score", "F1"), _m("Precision", "precision"),
                _m("Recall", "recall"), _m("RocAuc", "ROC AUC")]),
            line_plot_panel("Label coverage", [_ext(LABEL_COVERAGE, "label coverage")],
                            size="half"),
            bar_plot_panel("Tests per window", [_ext(TESTS_FAILED, "failed"),
                                                _ext(TESTS_PASSED, "passed")],
                           size="half", stacked=True),
        ],
    }
    tabs, panels = [], []
    for title, section in sections.items():
        for panel in section:
            # Stable ids: re-saving the same dashboard writes the same file.
            panel.id = uuid.UUID(stable_id("panel", title, panel.title))
            panels.append(panel)
        tabs.append(DashboardTabModel(id=uuid.UUID(stable_id("tab", title)), title=title,
                                      panels=[p.id for p in section]))
    return DashboardModel(tabs=tabs, panels=panels)


# Metric types a lean snapshot keeps: everything the dashboard above plots.
DASHBOARD_METRICS = {"DriftedColumnsCount", "ValueDrift", "MeanValue", "ExternalValue", "Accuracy",
                     "F1Score", "Precision", "Recall", "RocAuc"}
