"""Loader for the UCI Occupancy Detection files (Candanedo & Feldheim 2016, CC BY 4.0)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from app.schema import Feature, FeatureSchema

TARGET = "occupied"
FILES = ("datatest.txt", "datatraining.txt", "datatest2.txt")  # in time order

# Ranges are what the sensors can physically report, not what the files contain
# (e.g. the files hold 19.0-24.4 °C; an office sensor may read -10..50 °C).
SCHEMA = FeatureSchema(
    dataset="uci-occupancy",
    target=TARGET,
    features=(
        Feature(name="temperature_c", unit="°C", min=-10, max=50, example=21.5,
                description="Room temperature"),
        Feature(name="humidity_pct", unit="%", min=0, max=100, example=27.0,
                description="Relative humidity"),
        Feature(name="light_lux", unit="lx", min=0, max=100000, example=420.0,
                description="Illuminance at the desk"),
        Feature(name="co2_ppm", unit="ppm", min=0, max=10000, example=700.0,
                description="Carbon dioxide concentration"),
        Feature(name="humidity_ratio", unit="kg/kg", min=0, max=0.05, example=0.0042,
                description="Humidity ratio derived from temperature and RH"),
    ),
    class_names={"0": "unoccupied", "1": "occupied"},
)

_COLUMNS = {
    "Temperature": "temperature_c",
    "Humidity": "humidity_pct",
    "Light": "light_lux",
    "CO2": "co2_ppm",
    "HumidityRatio": "humidity_ratio",
    "Occupancy": TARGET,
}


def load(path: Path) -> pd.DataFrame:
    """One UCI file as `measured_at` + features + `occupied`.

    The files have a quoted 7-name header but 8 fields per row (a leading row index),
    which `index_col=0` absorbs; dates are local time without zone and are read as UTC
    so that hour-of-day patterns stay where they were recorded.
    """
    raw = pd.read_csv(path, index_col=0, parse_dates=["date"])
    missing = set(_COLUMNS) - set(raw.columns)
    if missing:
        raise ValueError(f"{path}: not a UCI Occupancy file, missing columns {sorted(missing)}")
    df = raw.rename(columns=_COLUMNS)
    df.insert(0, "measured_at", df.pop("date").dt.tz_localize("UTC"))
    df[TARGET] = df[TARGET].astype("int64")
    return df.reset_index(drop=True)[["measured_at", *SCHEMA.names, TARGET]]


def default_dir() -> Path:
    """The copy shipped beside the project: `shared/data` next to it (../shared/data) or
    next to any folder above it, so a clone one level deeper still finds it.

    Without any copy, the path next to the project is returned, and reading it fails
    naming the file.
    """
    project = Path(__file__).resolve().parents[2]
    candidates = [up / "shared" / "data" / "uci-occupancy-detection" for up in project.parents]
    return next((c for c in candidates if (c / "datatraining.txt").is_file()), candidates[0])
