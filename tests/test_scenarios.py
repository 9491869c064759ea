"""The scenario engine on its own: transforms, unit errors, checks against a schema, sources, timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.data import synthetic, uci
from app.data.policy import VentilationPolicy
from app.model.bundle import ModelBundle
from app.panel import controls
from app.replay import preview, sources
from app.replay.engine import ReplayConfig, prepare
from app.replay.scenarios import (
    SCENARIOS,
    FeatureDrift,
    ReferenceStats,
    Scenario,
    ScenarioError,
    ZoneDrift,
    inject,
    named,
)
from app.replay.timeline import auto_start, plan
from app.replay.units import unit_error, unit_errors

NOW = datetime(2026, 11, 26, 13, 40, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def bundle(model_dir: Path) -> ModelBundle:
    return ModelBundle.load(model_dir, with_model=False)


@pytest.fixture(scope="module")
def reference(bundle: ModelBundle) -> pd.DataFrame:
    return bundle.reference()


@pytest.fixture(scope="module")
def stats(bundle: ModelBundle, reference: pd.DataFrame) -> ReferenceStats:
    return ReferenceStats.of(reference, bundle.schema)


def _prepare(bundle: ModelBundle, reference: pd.DataFrame, **config: object):  # type: ignore[no-untyped-def]
    return prepare(ReplayConfig.model_validate(config), bundle.schema, bundle.policy, lambda: reference,
                   now=NOW)


def test_each_transform_does_what_it_says(bundle: ModelBundle, reference: pd.DataFrame,
                                          stats: ReferenceStats) -> None:
    schema = bundle.schema
    true = reference.iloc[:2000].reset_index(drop=True)
    scenario = Scenario(name="all", features={
        "co2_ppm": FeatureDrift(shift=400.0),
        "humidity_pct": FeatureDrift(stuck=True),
        "temperature_c": FeatureDrift(unit_error="°F"),
        "pm25_ugm3": FeatureDrift(shift_std=2.0),
        "tvoc_ppb": FeatureDrift(scale=1.5),
        "co_ppm": FeatureDrift(missing_share=0.25),
        "pm10_ugm3": FeatureDrift(noise_std=5.0),
        "occupancy": FeatureDrift(shift=2.4),
    })
    out = inject(true, scenario, schema, stats, seed=3)
    assert np.allclose(out.co2_ppm, true.co2_ppm + 400)
    assert out.humidity_pct.nunique() == 1 and out.humidity_pct.iloc[0] == true.humidity_pct.iloc[0]
    assert np.allclose(out.temperature_c, true.temperature_c * 9 / 5 + 32)
    assert np.allclose(out.pm25_ugm3, true.pm25_ugm3 + 2 * stats.std["pm25_ugm3"])
    assert np.allclose(out.tvoc_ppb, true.tvoc_ppb * 1.5)
    assert 0.2 < out.co_ppm.isna().mean() < 0.3
    assert out.co_ppm.dropna().equals(true.co_ppm[out.co_ppm.notna()])
    assert 4.5 < (out.pm10_ugm3 - true.pm10_ugm3).std() < 5.5
    # Integer features stay whole numbers (the API refuses 12.4 people).
    assert np.array_equal(out.occupancy, np.round(true.occupancy + 2.4))
    # The true frame is untouched and a clean scenario changes nothing.
    assert not true.equals(out) and inject(true, named("clean"), schema, stats).equals(true)


def test_random_parts_are_seeded_per_feature(bundle: ModelBundle, reference: pd.DataFrame,
                                             stats: ReferenceStats) -> None:
    true = reference.iloc[:500].reset_index(drop=True)
    one = Scenario(name="a", features={"co_ppm": FeatureDrift(missing_share=0.3)})
    two = Scenario(name="b", features={"co_ppm": FeatureDrift(missing_share=0.3),
                                       "co2_ppm": FeatureDrift(noise_std=50.0)})
    a, b = inject(true, one, bundle.schema, stats, seed=1), inject(true, two, bundle.schema, stats, seed=1)
    assert a.co_ppm.isna().equals(b.co_ppm.isna())  # adding noise elsewhere leaves co_ppm's draws alone
    assert not inject(true, one, bundle.schema, stats, seed=2).co_ppm.isna().equals(a.co_ppm.isna())


def test_clip_keeps_values_in_the_physical_range(bundle: ModelBundle, reference: pd.DataFrame,
                                                 stats: ReferenceStats) -> None:
    scenario = Scenario(name="f", clip=True, features={"temperature_c": FeatureDrift(unit_error="°F")})
    out = inject(reference.iloc[:300], scenario, bundle.schema, stats)
    assert out.temperature_c.max() <= bundle.schema.feature("temperature_c").max


def test_unit_errors_come_from_the_schema_units() -> None:
    schema = synthetic.SCHEMA
    assert [e.wrong_unit for e in unit_errors(schema.feature("temperature_c"))] == ["°F", "K"]
    assert unit_error(schema.feature("co2_ppm"), "ppb").apply(np.array([850.0]))[0] == 850_000
    assert unit_error(schema.feature("tvoc_ppb"), "ppm").apply(np.array([220.0]))[0] == pytest.approx(0.22)
    assert unit_errors(schema.feature("occupancy")) == ()
    assert [e.wrong_unit for e in unit_errors(uci.SCHEMA.feature("humidity_ratio"))] == ["g/kg"]
    with pytest.raises(ValueError, match="choose one of"):
        unit_error(schema.feature("co2_ppm"), "°F")


def test_scenarios_that_cannot_run_say_why() -> None:
    with pytest.raises(ScenarioError, match=r"radon_bq, which this model .* does not have"):
        Scenario(name="x", features={"radon_bq": FeatureDrift(shift=1.0)}).check(synthetic.SCHEMA, None)
    # UCI: no policy, no generator, no PM sensor.
    with pytest.raises(ScenarioError, match=r"changes the ventilation policy .* only synthetic bundles"):
        named("stricter-co2").check(uci.SCHEMA, None)
    with pytest.raises(ScenarioError, match="only the generator source can do"):
        named("heat-wave").check(uci.SCHEMA, None, "csv")
    with pytest.raises(ScenarioError, match="pm25_ugm3"):
        Scenario(name="pm", features={"pm25_ugm3": FeatureDrift(shift=5.0)}).check(uci.SCHEMA, None)
    with pytest.raises(ScenarioError, match="no unit error"):
        Scenario(name="u", features={"occupancy": FeatureDrift(unit_error="°F")}).check(
            synthetic.SCHEMA, VentilationPolicy())
    with pytest.raises(ValueError, match="unknown policy thresholds"):
        Scenario(name="p", policy={"radon_max": 1.0})
    with pytest.raises(ScenarioError, match="choose one of clean, co2-offset"):
        named("nope")
    # What works on UCI data: the sensor faults on features it has.
    for name in ("clean", "co2-offset", "stuck-humidity"):
        named(name).check(uci.SCHEMA, None, "csv")


def test_named_scenarios(bundle: ModelBundle, reference: pd.DataFrame) -> None:
    assert set(SCENARIOS) == {"clean", "co2-offset", "stuck-humidity", "heat-wave", "occupancy-surge",
                              "stricter-co2"}
    base = _prepare(bundle, reference, count=720, rate=1, compression=120, start="2026-11-25T00:00")
    runs = {name: _prepare(bundle, reference, scenario=SCENARIOS[name], count=720, rate=1, compression=120,
                           start="2026-11-25T00:00") for name in SCENARIOS}
    assert runs["clean"].frame.equals(base.frame)
    assert np.allclose(runs["co2-offset"].frame.co2_ppm, base.frame.co2_ppm + 400)
    assert np.array_equal(runs["co2-offset"].truth, base.truth)  # the air did not change
    assert runs["stuck-humidity"].frame.humidity_pct.nunique() == 1
    day = base.frame.measured_at.dt.hour.between(9, 17)
    assert runs["heat-wave"].frame.temperature_c[day].mean() > base.frame.temperature_c[day].mean() + 2
    assert runs["occupancy-surge"].frame.occupancy[day].mean() > 1.6 * base.frame.occupancy[day].mean()
    # Concept drift: same readings, more of them labelled "ventilate".
    assert runs["stricter-co2"].frame.equals(base.frame)
    assert runs["stricter-co2"].truth.sum() > base.truth.sum()
    assert "co2_max_ppm=800" in runs["stricter-co2"].truth_rule


def test_timeline_compression_and_auto_start() -> None:
    tl = plan(50, 60, minutes=60, now=NOW, window=timedelta(hours=1), lateness=timedelta(seconds=60))
    assert tl.interval == timedelta(seconds=1.2) and tl.count == 3000
    # Auto start: on a window boundary, ending before now - lateness, so every window it fills closes.
    assert tl.start == datetime(2026, 11, 26, 12, 0, tzinfo=UTC) and tl.end <= NOW - timedelta(seconds=60)
    assert auto_start(timedelta(hours=2), timedelta(hours=1), timedelta(0), NOW) == datetime(
        2026, 11, 26, 11, 0, tzinfo=UTC)
    assert plan(10, 1, count=5, start="now", now=NOW).start == NOW
    assert plan(10, 1, count=5, start="2026-01-05T08:00").start == datetime(2026, 1, 5, 8, tzinfo=UTC)
    stamps = plan(4, 3600, count=3, start="2026-01-05T08:00").stamps()
    assert list(stamps.minute) == [0, 15, 30]  # 4 readings per wall second, an hour per wall second
    with pytest.raises(ValueError, match="either a count"):
        plan(10, 1)
    with pytest.raises(ValueError, match="1 to 2,000,000"):
        plan(1000, 1, minutes=10_000)  # 600,000 s at 1 ms apart


def test_records_send_null_for_missing_and_ints_for_int_features(bundle: ModelBundle,
                                                                   reference: pd.DataFrame) -> None:
    scenario = Scenario(name="m", features={"occupancy": FeatureDrift(missing_share=0.5),
                                            "co2_ppm": FeatureDrift(missing_share=1.0)})
    p = _prepare(bundle, reference, scenario=scenario, count=200, rate=10, compression=60, source="reference")
    records = p.records()
    assert len(records) == 200 and set(records[0]) == {*bundle.schema.names, "measured_at"}
    assert all(r["co2_ppm"] is None for r in records)
    occupancy = [r["occupancy"] for r in records]
    assert None in occupancy and all(o is None or type(o) is int for o in occupancy)
    assert records[0]["measured_at"].endswith("Z")
    assert p.scenario == "m" and b'"scenario":"m"' in p.batch_body(slice(0, 2))


def test_reference_source_cycles_and_csv_source_carries_labels(model_dir: Path, tmp_path: Path,
                                                              bundle: ModelBundle,
                                                              reference: pd.DataFrame) -> None:
    p = _prepare(bundle, reference, source="reference", count=len(reference) + 10, rate=100, compression=1)
    ordered = reference.sort_values("measured_at", kind="stable").reset_index(drop=True)
    assert np.allclose(p.frame.co2_ppm.iloc[-10:], ordered.co2_ppm.iloc[:10])
    assert "policy" in p.truth_rule
    # A CSV of the synthetic zone's columns: features by name, truth by the policy.
    frame = synthetic.generate(start="2026-03-02", periods=50, seed=4)
    path = tmp_path / "zone.csv"
    frame.to_csv(path, index=False)
    p = _prepare(bundle, reference, source="csv", csv_path=path, count=50, rate=10, compression=60)
    assert np.allclose(p.frame.co2_ppm, frame.co2_ppm)
    missing = tmp_path / "partial.csv"
    frame.drop(columns=["co_ppm"]).to_csv(missing, index=False)
    with pytest.raises(sources.SourceError, match="lacks features this model needs: co_ppm"):
        _prepare(bundle, reference, source="csv", csv_path=missing, count=5, rate=10, compression=60)


def test_controls_are_generated_from_the_schema(bundle: ModelBundle, stats: ReferenceStats) -> None:
    for f in bundle.schema.features:
        sliders = controls.feature_sliders(f, stats.std[f.name])
        shift = sliders["shift"]
        assert shift.min == -shift.max and shift.max <= (f.max - f.min) / 2
        assert f.unit in shift.label
        assert shift.max >= min(5 * stats.std[f.name], (f.max - f.min) / 2)
    co2 = bundle.schema.feature("co2_ppm")
    assert controls.feature_sliders(co2, stats.std["co2_ppm"])["shift"].max >= 400
    policy = controls.policy_sliders(bundle.policy, bundle.schema)  # type: ignore[arg-type]
    assert set(policy) == set(VentilationPolicy.model_fields)
    # Scenario -> widget values -> the same scenario.
    for scenario in SCENARIOS.values():
        values = controls.values_of(scenario, bundle.schema, bundle.policy)
        back = controls.scenario_of(values, bundle.schema, bundle.policy)
        assert (back.features, back.policy, back.zone) == (scenario.features, scenario.policy, scenario.zone)


def test_preview_shows_reference_against_injected(bundle: ModelBundle, reference: pd.DataFrame,
                                                  stats: ReferenceStats) -> None:
    clean = preview.build(bundle.schema, bundle.policy, reference, stats, named("clean"), rows=1000)
    for d in clean.distributions:
        assert d.reference == d.injected
    offset = preview.build(bundle.schema, bundle.policy, reference, stats, named("co2-offset"), rows=1000)
    co2 = next(d for d in offset.distributions if d.feature == "co2_ppm")
    assert co2.injected_mean == pytest.approx(co2.reference_mean + 400)  # type: ignore[operator]
    stricter = preview.build(bundle.schema, bundle.policy, reference, stats, named("stricter-co2"), rows=1000)
    assert stricter.truth_rate_injected > stricter.truth_rate_reference  # type: ignore[operator]
    surge = preview.build(bundle.schema, bundle.policy, reference, stats,
                          Scenario(name="s", zone=ZoneDrift(occupancy_factor=2.0)), rows=1000)
    occ = next(d for d in surge.distributions if d.feature == "occupancy")
    assert occ.injected_mean > 1.5 * occ.reference_mean  # type: ignore[operator]
    assert clean.rejected_share == 0.0


def test_preview_counts_a_reading_out_of_range_once(bundle: ModelBundle, reference: pd.DataFrame,
                                                    stats: ReferenceStats) -> None:
    """Two features pushed out of range in every reading: all readings rejected, not 200 %."""
    both = Scenario(name="both", features={"temperature_c": FeatureDrift(shift=500),
                                           "co2_ppm": FeatureDrift(shift=-10_000)})
    pv = preview.build(bundle.schema, bundle.policy, reference, stats, both, rows=500)
    per_feature = {d.feature: d.out_of_range for d in pv.distributions if d.out_of_range}
    assert per_feature == {"temperature_c": 500, "co2_ppm": 500}
    assert pv.rejected_share == 1.0
