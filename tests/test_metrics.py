"""Metrics: the bulk histogram path equals prometheus_client's own, and the exposition lints clean."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram

from app import procs
from app.api.metrics import FeatureHistograms, HistogramBuffer
from tests.conftest import require


def test_histogram_buffer_matches_observe() -> None:
    values = np.concatenate([np.random.default_rng(1).normal(800, 300, 5000),
                             [400.0, 1000.0, 1000.0001, 1e9, -5, np.nan]])
    bounds = (400, 600, 800, 1000, 1500, 2000)
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    bulk = Histogram("co2_ppm", "x", buckets=bounds, registry=ours)
    one_by_one = Histogram("co2_ppm", "x", buckets=bounds, registry=theirs)
    buffer = HistogramBuffer(bulk)
    buffer.add(values[:2000])
    buffer.add(values[2000:])
    assert ours.get_sample_value("co2_ppm_count") == 0  # nothing until flushed
    buffer.flush()
    buffer.flush()  # a second flush adds nothing
    for v in values[~np.isnan(values)]:
        one_by_one.observe(float(v))
    for le in [*map(str, map(float, bounds)), "+Inf"]:
        assert ours.get_sample_value("co2_ppm_bucket", {"le": le}) == \
            theirs.get_sample_value("co2_ppm_bucket", {"le": le}), le
    assert ours.get_sample_value("co2_ppm_sum") == pytest.approx(
        theirs.get_sample_value("co2_ppm_sum"), rel=1e-12)  # summation order differs


def test_exposition_passes_promtool(api: procs.Server) -> None:
    require(shutil.which("promtool") is not None, "promtool (Debian package prometheus)")
    body = {"temperature_c": 22.0, "humidity_pct": 40.0, "co2_ppm": 800.0, "pm25_ugm3": 8.0,
            "pm10_ugm3": 15.0, "tvoc_ppb": 150.0, "co_ppm": 0.3, "occupancy": 10}
    httpx.post(api.url + "/predict", json=body, timeout=10).raise_for_status()
    text = httpx.get(api.url + "/metrics", timeout=10).text
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # Per-feature input histograms carry the schema's buckets.
    assert 'ventwatch_input_co2_ppm_bucket{le="+Inf"} 1.0' in text


def test_feature_histograms_match_observe_per_feature() -> None:
    rng = np.random.default_rng(2)
    x = np.column_stack([rng.normal(800, 300, 500), rng.uniform(0, 30, 500).round()])
    x[::7, 0] = np.nan
    x[::11, 1] = np.nan
    bounds = [(400.0, 800.0, 1200.0), (0.0, 5.0, 10.0, 20.0)]
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    from prometheus_client import Counter

    hists = [Histogram(f"f{j}", "x", buckets=b, registry=ours) for j, b in enumerate(bounds)]
    missing = Counter("missing", "x", ["feature"], registry=ours)
    refs = [Histogram(f"f{j}", "x", buckets=b, registry=theirs) for j, b in enumerate(bounds)]
    features = FeatureHistograms(hists, [missing.labels("f0"), missing.labels("f1")])
    features.add(x[:200])
    features.add(x[200:])
    features.flush()
    for j, ref in enumerate(refs):
        for v in x[:, j][~np.isnan(x[:, j])]:
            ref.observe(float(v))
        for le in [*map(str, bounds[j]), "+Inf"]:
            assert ours.get_sample_value(f"f{j}_bucket", {"le": le}) == \
                theirs.get_sample_value(f"f{j}_bucket", {"le": le}), (j, le)
        assert ours.get_sample_value(f"f{j}_sum") == pytest.approx(
            theirs.get_sample_value(f"f{j}_sum"))
        assert ours.get_sample_value("missing_total", {"feature": f"f{j}"}) == \
            int(np.isnan(x[:, j]).sum())
