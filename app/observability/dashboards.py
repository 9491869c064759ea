"""The two Grafana dashboards, built here and written to grafana/dashboards/*.json.

    python -m app.observability.dashboards          # rewrite the JSON files
    python -m app.observability.dashboards --check  # exit 1 if they differ from this code

Panels are declared with explicit ids (alert annotations link to `?viewPanel=<id>`) and
laid out row by row on Grafana's 24-column grid. Every query reads a metric the API, the
snapshot service, node-exporter, cAdvisor or Prometheus exports; per-feature panels repeat
over the `feature` variable (from the API's own label values), so a model with other
features needs no dashboard change. `queries()` lists every expression with its template
variables expanded, which is how tests run each one against a real Prometheus.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.observability.config import REPO

DATASOURCE_UID = "ventwatch-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
DASHBOARD_DIR = REPO / "grafana" / "dashboards"
SLO_SECONDS = 0.025  # the latency objective of POST /predict (alert_rules.yml uses the same)
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    id: int
    title: str
    kind: str  # timeseries | stat | heatmap | table
    targets: tuple[Target, ...]
    description: str = ""
    unit: str = "short"
    w: int = 12
    h: int = 8
    min: float | None = None
    max: float | None = None
    threshold_line: float | None = None  # a dashed line (objectives, not alerting state)
    repeat: str | None = None
    mappings: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Row:
    id: int
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Variable:
    name: str
    query: str  # label_values(<metric>, <label>)
    label: str


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    slug: str
    description: str
    rows: tuple[Row, ...]
    variables: tuple[Variable, ...] = ()
    links: tuple[tuple[str, str], ...] = ()

    @property
    def file(self) -> Path:
        return DASHBOARD_DIR / f"{self.slug}.json"

    def panels(self) -> Iterator[Panel]:
        for row in self.rows:
            yield from row.panels


def ts(id: int, title: str, *targets: Target, **kw: Any) -> Panel:
    return Panel(id, title, "timeseries", targets, **kw)


def stat(id: int, title: str, *targets: Target, **kw: Any) -> Panel:
    return Panel(id, title, "stat", targets, **{"w": 4, "h": 4, **kw})


def heatmap(id: int, title: str, bucket_metric: str, **kw: Any) -> Panel:
    expr = f"sum by (le) (increase({bucket_metric}[{RATE}]))"
    return Panel(id, title, "heatmap", (Target(expr, "{{le}}"),), **kw)


def table(id: int, title: str, expr: str, **kw: Any) -> Panel:
    return Panel(id, title, "table", (Target(expr, instant=True),), **kw)


def ratio(numerator: str, denominator: str) -> str:
    return f"{numerator}\n/\n{denominator}"


PREDICT_ROUTES = 'route=~"/predict|/predict/batch|/labels"'
LATENCY = "ventwatch_http_request_duration_seconds"

API = Dashboard(
    uid="ventwatch-api", title="API & System", slug="api-and-system",
    description="The prediction API's requests, errors and latency; its processes, containers and host.",
    links=(("ML Model", "/d/ventwatch-ml/ml-model"),),
    rows=(
        Row(100, "Requests", (
            ts(1, "Request rate by route and status",
               Target(f"sum by (route, status) (rate(ventwatch_http_requests_total[{RATE}]))",
                      "{{route}} {{status}}"), unit="reqps"),
            ts(2, "Error ratio (predict and label routes)",
               Target(ratio(f'(sum(rate(ventwatch_http_requests_total{{{PREDICT_ROUTES},status=~"5.."}}'
                            f'[{RATE}])) or vector(0))',
                            f"sum(rate(ventwatch_http_requests_total{{{PREDICT_ROUTES}}}[{RATE}]))"),
                      "5xx (server faults: alert above 1 %)"),
               # Rejections are counted from zero per reason, so their first one shows in rate().
               Target(ratio(f"sum(rate(ventwatch_rejected_inputs_total[{RATE}]))",
                            f"sum(rate(ventwatch_http_requests_total{{{PREDICT_ROUTES}}}[{RATE}]))"),
                      "4xx (rejected input)"),
               unit="percentunit", min=0,
               description="Share of requests to /predict, /predict/batch and /labels answered with an "
                           "error. Bad input is a 4xx by design; a 5xx is a fault."),
            ts(3, "POST /predict latency (single readings)",
               *(Target(f"histogram_quantile({q}, sum by (le) (rate({LATENCY}_bucket"
                        f'{{route="/predict"}}[{RATE}])))', f"p{round(q * 100)}")
                 for q in (0.5, 0.95, 0.99)),
               unit="s", min=0, threshold_line=SLO_SECONDS,
               description="From the request histogram (buckets around the 25 ms objective, dashed)."),
            ts(4, "p99 latency by route",
               Target(f"histogram_quantile(0.99, sum by (le, route) (rate({LATENCY}_bucket[{RATE}])))",
                      "{{route}}"), unit="s", min=0),
            ts(5, "POST /predict within 25 ms (SLO: 99 %)",
               Target(ratio(f'sum(rate({LATENCY}_bucket{{route="/predict",le="0.025"}}[{RATE}]))',
                            f'sum(rate({LATENCY}_count{{route="/predict"}}[{RATE}]))'),
                      "within 25 ms"),
               unit="percentunit", max=1, threshold_line=0.99,
               description="Below the dashed line the latency error budget burns; the alert fires on a "
                           "fast burn over the last hour and the last 5 minutes."),
            ts(6, "Requests in flight", Target("sum(ventwatch_http_requests_in_flight)", "in flight"),
               min=0, description="Includes Prometheus' own scrape of /metrics."),
            heatmap(7, "Readings per model call", "ventwatch_inference_batch_rows_bucket",
                    description="Single readings arriving together are micro-batched into one call."),
            ts(8, "Prediction log",
               Target(f"sum by (log) (rate(ventwatch_log_rows_staged_total[{RATE}]))", "{{log}} rows/s"),
               Target(f"sum by (log) (increase(ventwatch_log_write_errors_total[{RATE}]))",
                      "{{log}} write errors"),
               min=0, description="Records made durable per second; any write error alerts."),
        )),
        Row(101, "Processes", (
            ts(9, "Process CPU (1 = one core)",
               Target(f"sum by (job) (rate(process_cpu_seconds_total[{RATE}]))", "{{job}}"),
               unit="percentunit", min=0),
            ts(10, "Process resident memory",
               Target("sum by (job) (process_resident_memory_bytes)", "{{job}}"), unit="bytes", min=0),
        )),
        Row(102, "Containers (cAdvisor, docker compose)", (
            ts(11, "Container CPU (1 = one core)",
               Target(f'sum by (name) (rate(container_cpu_usage_seconds_total{{name=~".+"}}[{RATE}]))',
                      "{{name}}"), unit="percentunit", min=0),
            ts(12, "Container memory (working set)",
               Target('sum by (name) (container_memory_working_set_bytes{name=~".+"})', "{{name}}"),
               unit="bytes", min=0),
        )),
        Row(103, "Host (node-exporter)", (
            ts(13, "Host CPU busy",
               Target(f'1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle"}}[{RATE}]))',
                      "{{instance}}"), unit="percentunit", min=0, max=1, w=9),
            ts(14, "Host memory",
               Target("node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes", "used"),
               Target("node_memory_MemTotal_bytes", "total"), unit="bytes", min=0, w=9),
            stat(15, "Targets up", Target("up", "{{job}}"), w=6, h=8,
                 mappings=({"type": "value", "options": {
                     "0": {"text": "DOWN", "color": "red", "index": 0},
                     "1": {"text": "UP", "color": "green", "index": 1}}},)),
        )),
    ),
)

QUALITY = ('label_replace({__name__=~"ventwatch_model_(%s)"}, '
           '"metric", "$1", "__name__", "ventwatch_model_(.*)")')

F1_TESTED = "ventwatch_model_f1 and ventwatch_model_f1_tested == 1"

ML = Dashboard(
    uid="ventwatch-ml", title="ML Model", slug="ml-model",
    description="What the model sees and decides (live, from the API) and how its windows drift and "
                "score (from the snapshot job, the same numbers as the Evidently UI).",
    variables=(Variable("feature", "label_values(ventwatch_input_missing_total, feature)", "Feature"),),
    links=(("API & System", "/d/ventwatch-api/api-and-system"),),
    rows=(
        Row(100, "Latest windows (snapshot job)", (
            stat(1, "Drift share", Target("ventwatch_drift_share", "drift share"), unit="percentunit",
                 description="Share of features drifting in the latest closed window."),
            stat(2, "Accuracy", Target("ventwatch_model_accuracy", "accuracy"), unit="percentunit",
                 description="On the labelled rows of the latest window with enough labels."),
            stat(3, "F1 (windows with enough positives)", Target(F1_TESTED, "F1"), unit="percentunit",
                 description="F1 of a window with a handful of positive labels is 0 or 1 by chance: "
                             "shown (and alerted on) only where the window's F1 test ran."),
            stat(4, "Label coverage (recent windows)",
                 Target("ventwatch_label_coverage_recent_ratio", "coverage"), unit="percentunit"),
            stat(5, "Since the last snapshot run",
                 Target("time() - ventwatch_snapshot_last_success_timestamp_seconds", "age"), unit="s"),
            stat(6, "Alerts firing", Target('count(ALERTS{alertstate="firing"}) or vector(0)', "firing")),
        )),
        Row(101, "Drift", (
            ts(7, "Drift share vs threshold",
               Target("ventwatch_drift_share", "drift share"),
               Target("ventwatch_drift_share_threshold", "threshold (dataset drift)"),
               unit="percentunit", min=0, max=1,
               description="Latest closed window. The alert fires when the share stays at or above "
                           "the threshold for 10 minutes."),
            ts(8, "Per-feature drift (score ÷ calibrated threshold)",
               Target("ventwatch_feature_drift_score / ventwatch_feature_drift_threshold", "{{feature}}"),
               Target('ventwatch_prediction_drift_score / ignoring(feature) '
                      'ventwatch_feature_drift_threshold{feature="probability"}', "predicted probability"),
               min=0, threshold_line=1.0,
               description="Normed Wasserstein distance to the seasonal reference, divided by each "
                           "feature's calibrated threshold: above 1 (dashed) the feature drifts."),
            ts(23, "Sensor spread (standard deviation ÷ stuck floor)",
               Target("ventwatch_feature_stddev / ventwatch_feature_stddev_floor", "{{feature}}"),
               min=0, threshold_line=1.0, w=24,
               description="Latest closed window. Below 1 (dashed) the feature's readings are flatter "
                           "than clean reference days at those hours: a stuck sensor. Features that "
                           "are legitimately flat at those hours (nobody at night) have no floor "
                           "and no line."),
        )),
        Row(102, "Quality (ground-truth labels)", (
            ts(9, "Quality on the latest labelled window",
               Target(QUALITY % "accuracy|precision|recall|roc_auc", "{{metric}}"),
               Target(F1_TESTED, "f1"),
               Target(QUALITY % "accuracy_floor|f1_floor", "{{metric}}"),
               unit="percentunit", min=0, max=1, w=8,
               description="Accuracy, precision, recall, ROC AUC and F1 (where tested) with the floors "
                           "the alerts use."),
            ts(10, "Label coverage",
               Target("ventwatch_label_coverage_ratio", "latest window"),
               Target("ventwatch_label_coverage_recent_ratio", "recent windows"),
               Target("ventwatch_label_coverage_floor", "floor"),
               unit="percentunit", min=0, max=1, w=8),
            ts(11, "Labels received",
               Target(f"sum by (label) (rate(ventwatch_labels_received_total[{RATE}]))", "label {{label}}"),
               unit="ops", min=0, w=8),
        )),
        Row(103, "Predictions (live, from the API)", (
            ts(12, "Predictions by class",
               Target(f"sum by (predicted_class) (rate(ventwatch_predictions_total[{RATE}]))",
                      "class {{predicted_class}}"), unit="ops", min=0, w=8),
            ts(13, "Ventilation activation rate",
               Target(ratio(f"sum(rate(ventwatch_ventilation_activations_total[{RATE}]))",
                            f"sum(rate(ventwatch_predictions_total[{RATE}]))"), "live"),
               Target("ventwatch_activation_ratio", "latest window"), unit="percentunit", min=0, max=1,
               w=8),
            heatmap(14, "Predicted probability of 'ventilation needed'",
                    "ventwatch_prediction_probability_bucket", w=8),
        )),
        # Alone in its row: Grafana lays the repeated copies out three per line.
        Row(104, "Input distributions (live, from the API)", (
            heatmap(15, "Input: $feature", "{__name__=\"ventwatch_input_${feature}_bucket\"}",
                    repeat="feature", w=8,
                    description="Readings per histogram bucket; buckets come from the feature schema."),
        )),
        Row(106, "Input problems", (
            ts(16, "Missing values by feature",
               Target(f"sum by (feature) (rate(ventwatch_input_missing_total[{RATE}]))", "{{feature}}"),
               unit="ops", min=0),
            ts(17, "Rejected requests by reason",
               Target(f"sum by (reason) (rate(ventwatch_rejected_inputs_total[{RATE}]))", "{{reason}}"),
               unit="ops", min=0),
        )),
        Row(105, "Snapshot job and alerts", (
            ts(18, "Snapshot freshness",
               Target("time() - ventwatch_snapshot_last_success_timestamp_seconds", "since last run"),
               Target("clamp_min(10 * ventwatch_snapshot_interval_seconds, 600)", "stale alert threshold"),
               unit="s", min=0, w=8),
            ts(19, "Snapshot runs",
               Target(f"sum by (result) (increase(ventwatch_snapshot_runs_total[{RATE}]))", "{{result}}"),
               Target("ventwatch_snapshot_windows_pending", "windows pending"), min=0, w=8),
            ts(20, "Snapshot run duration",
               Target("ventwatch_snapshot_run_duration_seconds", "last run"), unit="s", min=0, w=8),
            table(21, "Firing alerts", 'ALERTS{alertstate="firing"}', w=16),
            table(22, "Model served", "ventwatch_model_info", w=8),
        )),
    ),
)

DASHBOARDS = (API, ML)


def _field_config(p: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": p.unit}
    if p.min is not None:
        defaults["min"] = p.min
    if p.max is not None:
        defaults["max"] = p.max
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if p.threshold_line is not None:
        steps.append({"color": "red", "value": p.threshold_line})
    defaults["thresholds"] = {"mode": "absolute", "steps": steps}
    if p.kind == "timeseries":
        defaults["custom"] = {"lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                              "spanNulls": True,
                              "thresholdsStyle": {"mode": "dashed" if p.threshold_line is not None
                                                  else "off"}}
        defaults["color"] = {"mode": "palette-classic"}
    if p.mappings:
        defaults["mappings"] = list(p.mappings)
    return {"defaults": defaults, "overrides": []}


def _options(p: Panel) -> dict[str, Any]:
    if p.kind == "timeseries":
        return {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "desc"}}
    if p.kind == "stat":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "value" if p.mappings else "none", "graphMode": "area",
                "justifyMode": "auto", "textMode": "auto", "orientation": "auto"}
    if p.kind == "heatmap":
        return {"calculate": False, "cellGap": 1, "yAxis": {"axisPlacement": "left"},
                "rowsFrame": {"layout": "auto"},
                "color": {"mode": "scheme", "scheme": "Oranges", "scale": "exponential",
                          "exponent": 0.5, "steps": 64, "fill": "dark-orange", "reverse": False},
                "tooltip": {"mode": "single", "yHistogram": False}, "legend": {"show": True}}
    return {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}


def _targets(p: Panel) -> list[dict[str, Any]]:
    out = []
    for ref, t in zip("ABCDEFGH", p.targets, strict=False):
        target: dict[str, Any] = {"refId": ref, "datasource": DATASOURCE, "expr": t.expr,
                                  "legendFormat": t.legend or "__auto", "range": not t.instant,
                                  "instant": t.instant, "editorMode": "code"}
        if p.kind == "heatmap":
            target["format"] = "heatmap"
        elif p.kind == "table":
            target["format"] = "table"
        out.append(target)
    return out


def _panel_json(p: Panel, x: int, y: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": p.id, "type": p.kind, "title": p.title, "description": p.description,
        "datasource": DATASOURCE, "gridPos": {"x": x, "y": y, "w": p.w, "h": p.h},
        "targets": _targets(p), "fieldConfig": _field_config(p), "options": _options(p),
    }
    if p.kind == "table":
        # ALERTS and *_info series carry their meaning in labels: show those, not time and value.
        out["transformations"] = [{"id": "organize", "options": {
            "excludeByName": {"Time": True, "Value": True, "__name__": True}}}]
    if p.repeat:
        out.update(repeat=p.repeat, repeatDirection="h", maxPerRow=3)
    return out


def build(d: Dashboard) -> dict[str, Any]:
    """The dashboard's JSON model (schemaVersion 39, Grafana 10.4 and later)."""
    panels: list[dict[str, Any]] = []
    y = 0
    for row in d.rows:
        panels.append({"id": row.id, "type": "row", "title": row.title, "collapsed": False,
                       "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
        y += 1
        x, line_height = 0, 0
        for p in row.panels:
            if x + p.w > 24:
                x, y, line_height = 0, y + line_height, 0
            panels.append(_panel_json(p, x, y))
            x += p.w
            line_height = max(line_height, p.h)
        y += line_height
    variables = [{
        "name": v.name, "label": v.label, "type": "query", "datasource": DATASOURCE,
        "definition": v.query, "query": {"query": v.query, "refId": "PrometheusVariableQueryEditor"},
        "refresh": 2, "multi": True, "includeAll": True, "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [],
        "hide": 0,
    } for v in d.variables]
    return {
        "uid": d.uid, "title": d.title, "description": d.description, "tags": ["ventwatch"],
        "timezone": "utc", "editable": False, "graphTooltip": 1, "schemaVersion": 39, "version": 1,
        "time": {"from": "now-3h", "to": "now"}, "refresh": "30s", "fiscalYearStartMonth": 0,
        "liveNow": False, "weekStart": "",
        "links": [{"title": title, "type": "link", "url": url, "icon": "dashboard",
                   "targetBlank": False, "asDropdown": False, "includeVars": False,
                   "keepTime": True, "tags": [], "tooltip": ""} for title, url in d.links],
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
            "type": "dashboard"}]},
        "templating": {"list": variables},
        "panels": panels,
    }


def render(d: Dashboard) -> str:
    return json.dumps(build(d), indent=2, ensure_ascii=False) + "\n"


# -- queries with template variables expanded (tests, screenshots) ------------------------

@dataclass(frozen=True)
class Query:
    dashboard: str
    panel_id: int
    panel: str
    ref: str
    expr: str  # variables expanded
    legend: str
    instant: bool
    kind: str
    variables: dict[str, str] = field(default_factory=dict)


# Grafana variables: ${name} or $name ($1 in a label_replace is not one).
_VAR = re.compile(r"\$\{(\w+)\}|\$([A-Za-z_]\w*)")


def rate_interval(scrape_interval_s: float, step_s: float) -> str:
    """Grafana's $__rate_interval: max($__interval + scrape interval, 4 × scrape interval)."""
    return f"{round(max(step_s + scrape_interval_s, 4 * scrape_interval_s))}s"


def expand(expr: str, values: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return values[name]

    return _VAR.sub(sub, expr)


def queries(dashboard: dict[str, Any], builtins: dict[str, str],
            variable_values: Callable[[str], list[str]]) -> Iterator[Query]:
    """Every target of a dashboard JSON, once per value of the variables it uses.

    `builtins`: e.g. {"__rate_interval": "4s"}; `variable_values(query)`: the values a
    template variable's query returns (label_values against the real Prometheus).
    """
    options = {v["name"]: variable_values(v["query"]["query"]) for v in dashboard["templating"]["list"]}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used = sorted({m.group(1) or m.group(2) for m in _VAR.finditer(target["expr"])} - set(builtins))
            missing = [u for u in used if u not in options]
            if missing:
                raise KeyError(f"panel {panel['id']} uses undefined variables {missing}")
            for combo in itertools.product(*(options[u] for u in used)):
                chosen = dict(zip(used, combo, strict=True))
                yield Query(dashboard["uid"], panel["id"], panel["title"], target["refId"],
                            expand(target["expr"], {**builtins, **chosen}), target.get("legendFormat", ""),
                            bool(target.get("instant")), panel["type"], chosen)


def load(d: Dashboard) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(d.file.read_text())
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or --check) grafana/dashboards/*.json")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    for d in DASHBOARDS:
        text = render(d)
        if args.check:
            if not d.file.is_file() or d.file.read_text() != text:
                stale.append(d.file)
        else:
            d.file.parent.mkdir(parents=True, exist_ok=True)
            d.file.write_text(text)
            print(f"wrote {d.file}")
    for path in stale:
        print(f"{path} differs from app/observability/dashboards.py: "
              "run python -m app.observability.dashboards", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
