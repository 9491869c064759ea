"""Grafana provisioning: datasource uid, dashboard JSON (ids, grid, variables), in step with the code.

That every query returns data from a real Prometheus is tests/test_observability_stack.py's job.
"""

from __future__ import annotations

import json
from itertools import combinations
from typing import Any

import pytest
import yaml

from app.observability import dashboards
from app.observability.config import PROMETHEUS_YML, REPO

GRAFANA = REPO / "grafana"


def panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    return model["panels"]


@pytest.fixture(params=[d.slug for d in dashboards.DASHBOARDS])
def model(request: pytest.FixtureRequest) -> dict[str, Any]:
    d = next(d for d in dashboards.DASHBOARDS if d.slug == request.param)
    return dashboards.load(d)


def test_committed_json_is_what_the_builder_writes() -> None:
    assert dashboards.main(["--check"]) == 0, "run: python -m app.observability.dashboards"
    files = sorted(p.name for p in (GRAFANA / "dashboards").glob("*.json"))
    assert files == sorted(d.file.name for d in dashboards.DASHBOARDS)


def test_datasource_is_provisioned_with_the_fixed_uid() -> None:
    config = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (ds,) = config["datasources"]
    assert ds["uid"] == dashboards.DATASOURCE_UID and ds["type"] == "prometheus"
    assert ds["url"] == "http://prometheus:9090"
    # $__rate_interval is computed from this: it must be Prometheus' own scrape interval.
    scrape = yaml.safe_load(PROMETHEUS_YML.read_text())["global"]["scrape_interval"]
    assert ds["jsonData"]["timeInterval"] == scrape


def test_dashboard_provider_reads_the_mounted_directory() -> None:
    config = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "ventwatch.yml").read_text())
    (provider,) = config["providers"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert provider["allowUiUpdates"] is False


def test_every_panel_and_query_uses_the_provisioned_datasource(model: dict[str, Any]) -> None:
    for panel in panels(model):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == dashboards.DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == dashboards.DATASOURCE, panel["title"]
            assert target["expr"].strip()
    for variable in model["templating"]["list"]:
        assert variable["datasource"] == dashboards.DATASOURCE


def test_panel_ids_are_unique_and_uids_fixed(model: dict[str, Any]) -> None:
    ids = [p["id"] for p in panels(model)]
    assert len(ids) == len(set(ids)), ids
    assert model["uid"] in {"ventwatch-api", "ventwatch-ml"}
    refs = [(p["id"], t["refId"]) for p in panels(model) for t in p.get("targets", [])]
    assert len(refs) == len(set(refs))


def test_grid_positions_fit_and_do_not_overlap(model: dict[str, Any]) -> None:
    boxes = []
    for p in panels(model):
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"]
        assert g["y"] >= 0 and g["h"] > 0, p["title"]
        boxes.append((p["title"], g))
    for (a, ga), (b, gb) in combinations(boxes, 2):
        overlap_x = ga["x"] < gb["x"] + gb["w"] and gb["x"] < ga["x"] + ga["w"]
        overlap_y = ga["y"] < gb["y"] + gb["h"] and gb["y"] < ga["y"] + ga["h"]
        assert not (overlap_x and overlap_y), f"{a!r} overlaps {b!r}"
    # Rows come in order, each above its panels.
    rows = [p for p in panels(model) if p["type"] == "row"]
    assert [r["gridPos"]["y"] for r in rows] == sorted(r["gridPos"]["y"] for r in rows)


def test_repeated_panels_sit_alone_in_their_row(model: dict[str, Any]) -> None:
    """Grafana lays repeated copies across the row; a neighbour would be covered."""
    for p in panels(model):
        if p.get("repeat"):
            same_line = [q for q in panels(model) if q is not p and q["gridPos"]["y"] == p["gridPos"]["y"]]
            assert not same_line, [q["title"] for q in same_line]
            assert any(v["name"] == p["repeat"] for v in model["templating"]["list"])


def test_the_issue_asks_for_these_panels() -> None:
    """API & System and ML Model show what issue 5 lists (by the metrics they query)."""
    def exprs(d: dashboards.Dashboard) -> str:
        return json.dumps([t.expr for p in d.panels() for t in p.targets])

    api, ml = exprs(dashboards.API), exprs(dashboards.ML)
    for needle in ("ventwatch_http_requests_total", 'status=~\\"5..\\"', "histogram_quantile(0.5",
                   "histogram_quantile(0.95", "histogram_quantile(0.99", "ventwatch_http_requests_in_flight",
                   "process_cpu_seconds_total", "process_resident_memory_bytes",
                   "container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                   "node_cpu_seconds_total", "node_memory_MemAvailable_bytes"):
        assert needle in api, needle
    for needle in ("ventwatch_predictions_total", "ventwatch_ventilation_activations_total",
                   "ventwatch_prediction_probability_bucket", "ventwatch_input_${feature}_bucket",
                   "ventwatch_drift_share", "ventwatch_feature_drift_score", "accuracy|",
                   "ventwatch_model_f1",
                   "ventwatch_label_coverage", "ventwatch_snapshot_last_success_timestamp_seconds",
                   'ALERTS{alertstate=\\"firing\\"}'):
        assert needle in ml, needle
    kinds = {p.kind for p in dashboards.ML.panels()}
    assert {"heatmap", "timeseries", "stat", "table"} <= kinds


def test_queries_expand_every_variable() -> None:
    model = dashboards.load(dashboards.ML)
    found = list(dashboards.queries(model, {"__rate_interval": "1m"},
                                    lambda q: ["co2_ppm", "occupancy"]))
    inputs = [q for q in found if q.panel_id == 15]
    assert [q.variables["feature"] for q in inputs] == ["co2_ppm", "occupancy"]
    assert 'ventwatch_input_co2_ppm_bucket"}[1m]' in inputs[0].expr
    assert all("$" not in q.expr.replace('"$1"', "") for q in found), [q.expr for q in found if "$" in q.expr]
    assert dashboards.rate_interval(15, 15) == "60s" and dashboards.rate_interval(1, 10) == "11s"
