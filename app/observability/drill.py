"""A drift drill: scripted traffic through the real API that walks the whole alert path.

Night hours of a weekday inside the default model's reference season, where drift is
unmistakable: clean readings, then a "night shift" (five people working through the
night with the ventilation off: occupancy +5, CO2 +700 ppm, temperature +4 °C) that drifts
three of the eight features and makes ventilation needed, each hour labelled by the
ventilation policy; then clean night hours again. The
snapshot job turns each hour into a window; DataDriftShareHigh and KeyFeatureDrift fire
on the drifted ones and resolve on the clean ones. Used by the integration test and by
`make screenshots`; scripted scenarios for people are `ventwatch simulate`'s job.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import pandas as pd

from app.data.policy import VentilationPolicy
from app.data.synthetic import SCHEMA, TARGET, generate
from app.observability.config import Timing
from app.replay.client import frame_records, send_batches, send_labels
from app.schema import MEASURED_AT

DAY = "2026-02-18"  # a Wednesday inside the default model's reference season
NIGHT_SHIFT: Mapping[str, float] = {"occupancy": 5, "co2_ppm": 700.0, "temperature_c": 4.0}
DRIFTING = tuple(NIGHT_SHIFT)
POLICY = VentilationPolicy.model_validate({})  # the default policy, as the model was trained on
DRIFT_ALERTS = frozenset({"DataDriftShareHigh", "KeyFeatureDrift"})

# Settings for a stack that watches the drill: the drill replays a past night, so hourly
# windows close as soon as the data has passed them; the job runs every second.
SETTINGS: dict[str, Any] = {
    "snapshot_window": timedelta(hours=1), "snapshot_lateness": timedelta(0),
    "snapshot_every": timedelta(seconds=1), "snapshot_rollup_after": timedelta(days=3650),
    "log_flush_seconds": 0.5,
}
# Minutes compressed into seconds: 1 s scrapes and evaluations, every rule's `for` 3 s,
# Alertmanager grouping in seconds (the real `for` durations are promtool-tested).
TIMING = Timing(scrape_interval=timedelta(seconds=1), evaluation_interval=timedelta(seconds=1),
                rule_for=timedelta(seconds=3), group_wait=timedelta(seconds=1),
                group_interval=timedelta(seconds=1), repeat_interval=timedelta(hours=1))
PROMETHEUS_FLAGS = ("--rules.alert.resend-delay=1s",)


def readings(start: str, hours: float, seed: int, shift: Mapping[str, float] | None = None
             ) -> pd.DataFrame:
    """One reading a minute; `shift` added to features (within their physical range), then labelled."""
    frame = generate(start=start, periods=int(hours * 60), freq_minutes=1, seed=seed, label_noise=0.0)
    for name, delta in (shift or {}).items():
        feature = SCHEMA.feature(name)
        frame[name] = (frame[name] + delta).clip(feature.min, feature.max)
    frame[TARGET] = POLICY.label(frame)
    return frame


def send(client: httpx.Client, frame: pd.DataFrame, scenario: str, singles: int = 20,
         pace: float = 0.1, label: bool = True) -> list[str]:
    """One hour at a time: a batch through POST /predict/batch, then `singles` readings one by
    one through POST /predict (as sensor gateways send them) `pace` seconds apart, so that
    traffic spans several scrapes; then the hour's labels, if asked."""
    ids: list[str] = []
    hours = frame[MEASURED_AT].dt.floor("h")
    for _, hour in frame.groupby(hours, sort=True):
        records = frame_records(hour, SCHEMA.names)
        hour_ids = send_batches(client, records[: len(records) - singles], scenario)
        for record in records[len(records) - singles:]:
            response = client.post("/predict", json={**record, "scenario": scenario})
            response.raise_for_status()
            hour_ids.append(response.json()["prediction_id"])
            time.sleep(pace)
        if label:
            send_labels(client, hour_ids, hour[TARGET].to_numpy())
        ids += hour_ids
    return ids


def send_bad_input(client: httpx.Client) -> int:
    """Readings the API must refuse with a 4xx (they count as rejected inputs, never as errors)."""
    good = SCHEMA.example()
    bad = [{k: v for k, v in good.items() if k != "co2_ppm"},  # missing
           {**good, "co2_ppm": -5.0},  # outside the physical range
           {**good, "co2_ppm": "high"}]  # not a number
    rejected = 0
    for body in bad:
        status = client.post("/predict", json=body).status_code
        if not 400 <= status < 500:
            raise AssertionError(f"bad input answered {status}")
        rejected += 1
    return rejected


def drift(api_url: str, first_hour: int = 0, clean_hours: int = 3, drift_hours: int = 3) -> int:
    """Clean hours, then night-shift hours (all labelled); returns the readings sent."""
    with httpx.Client(base_url=api_url, timeout=60) as client:
        clean = readings(f"{DAY} {first_hour:02d}:00", clean_hours, seed=21)
        shifted = readings(f"{DAY} {first_hour + clean_hours:02d}:00", drift_hours, seed=22,
                           shift=NIGHT_SHIFT)
        send(client, clean, "clean")
        send(client, shifted, "night-shift")
        send_bad_input(client)
        return len(clean) + len(shifted)


def recover(api_url: str, first_hour: int, hours: int = 2) -> int:
    """Clean hours after the drift; returns the readings sent."""
    with httpx.Client(base_url=api_url, timeout=60) as client:
        clean = readings(f"{DAY} {first_hour:02d}:00", hours, seed=23)
        send(client, clean, "clean")
        return len(clean)
