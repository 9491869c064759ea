"""The synthetic generator, the ventilation policy and the CSV loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.data import csv as csv_data
from app.data.policy import VentilationPolicy
from app.data.synthetic import SCHEMA, TARGET, ZoneConfig, generate, simulate


def test_deterministic_by_seed() -> None:
    a, b = generate(periods=2000, seed=5), generate(periods=2000, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not generate(periods=2000, seed=6).equals(a)


def test_physically_plausible() -> None:
    df = simulate(periods=7 * 720)  # one week at 2-minute steps
    for f in SCHEMA.features:
        assert df[f.name].between(f.min, f.max).all(), f.name
    weekday = df["measured_at"].dt.dayofweek < 5
    office = weekday & df["measured_at"].dt.hour.between(10, 16)
    night = df["measured_at"].dt.hour.between(1, 5)
    assert df.loc[office, "occupancy"].mean() > 10 > df.loc[night, "occupancy"].mean()
    # CO2 follows people: far above outdoor air in office hours, back near it at night.
    assert df.loc[office, "co2_ppm"].mean() > 700
    assert df.loc[night, "co2_ppm"].mean() < 520
    assert df["pm10_ugm3"].ge(df["pm25_ugm3"] - 5).mean() > 0.99  # PM10 includes PM2.5
    assert np.corrcoef(df["occupancy"], df["co2_ppm"])[0, 1] > 0.5


def test_labels_follow_the_policy_and_are_balanced_enough() -> None:
    df = generate(periods=14 * 720, label_noise=0.0)
    assert 0.1 < df[TARGET].mean() < 0.5
    assert (df[TARGET] == VentilationPolicy().apply(df)).all()
    noisy = generate(periods=14 * 720, label_noise=0.05)
    assert 0.03 < (noisy[TARGET] != df[TARGET]).mean() < 0.07


def test_changing_the_policy_is_concept_drift() -> None:
    """Same readings, stricter CO2 limit: the features do not move, the labels do."""
    readings = simulate(periods=7 * 720)
    before = VentilationPolicy().apply(readings)
    after = VentilationPolicy(co2_max_ppm=800).apply(readings)
    assert after.mean() > before.mean() + 0.05
    assert ((after == 1) | (before == 0)).all()  # stricter only adds activations


def test_heat_wave_and_occupancy_surge_knobs() -> None:
    base = simulate(periods=3 * 720, start="2026-07-06")
    hot = simulate(periods=3 * 720, start="2026-07-06", zone=ZoneConfig(outdoor_temperature_offset_c=12))
    crowded = simulate(periods=3 * 720, start="2026-07-06", zone=ZoneConfig(occupancy_factor=2))
    assert hot["temperature_c"].mean() > base["temperature_c"].mean() + 2
    assert crowded["co2_ppm"].mean() > base["co2_ppm"].mean() + 100


def test_csv_loader_derives_schema(tmp_path: Path) -> None:
    path = tmp_path / "my sensors.csv"
    pd.DataFrame({
        "Timestamp": pd.date_range("2026-03-01", periods=50, freq="5min").astype(str),
        "Room Temp": np.linspace(18, 24, 50),
        "CO2": np.linspace(400, 1600, 50),
        "people": np.arange(50) % 7,
        "vent": ["on" if i % 3 else "off" for i in range(50)],
    }).to_csv(path, index=False)
    frame, schema = csv_data.load(path, target="vent")
    assert schema.names == ["room_temp", "co2", "people"]
    assert schema.target == "vent" and schema.class_names == {"0": "off", "1": "on"}
    assert schema.feature("people").dtype == "int" and schema.feature("co2").min == 0
    assert schema.feature("co2").max >= 1600 * 1.2
    assert frame["measured_at"].dt.tz is not None and frame["vent"].isin([0, 1]).all()
    with pytest.raises(ValueError, match="exactly 2 classes"):
        csv_data.load(path, target="people")
    with pytest.raises(ValueError, match="no target column"):
        csv_data.load(path, target="missing")
