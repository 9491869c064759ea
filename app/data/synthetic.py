"""Synthetic indoor air quality of one office zone, deterministic by seed.

The zone (default 300 m³, up to 30 people) is simulated step by step with well-mixed
mass balances: every indoor quantity relaxes towards a steady state set by its sources
(occupants, outdoor air, indoor events) at a rate set by the air-change rate:

    x[t] = x_ss[t] + (x[t-1] - x_ss[t]) * exp(-k[t] * dt) + event[t]

- occupancy follows a weekday schedule (arrival 8-9 h, lunch dip, departure 17-19 h,
  near-empty weekends) with day-to-day variation;
- ventilation: infiltration always, mechanical supply on weekdays 06:30-19:00 at a rate
  that varies per day (some days are under-ventilated, so CO2 climbs);
- CO2 rises with occupancy (0.0187 m³/h per person) and decays with air changes;
- temperature follows the heating set-point, occupants and outdoor weather;
  humidity follows outdoor vapour pressure plus occupant moisture;
- PM2.5/PM10 come from outdoor pollution episodes and indoor events (cooking, printing),
  TVOC from occupants and evening cleaning, CO from traffic and rare appliance faults.

Times are UTC and the schedule is read in UTC. Labels come from a `VentilationPolicy`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.data.policy import VentilationPolicy
from app.schema import Feature, FeatureSchema

TARGET = "ventilation_needed"

SCHEMA = FeatureSchema(
    dataset="synthetic",
    target=TARGET,
    features=(
        Feature(name="temperature_c", unit="°C", min=-20, max=60, example=22.5,
                description="Indoor air temperature"),
        Feature(name="humidity_pct", unit="%", min=0, max=100, example=45.0,
                description="Indoor relative humidity"),
        Feature(name="co2_ppm", unit="ppm", min=0, max=10000, example=850.0,
                description="Carbon dioxide concentration"),
        Feature(name="pm25_ugm3", unit="µg/m³", min=0, max=1000, example=12.0,
                description="Fine particulate matter (PM2.5)"),
        Feature(name="pm10_ugm3", unit="µg/m³", min=0, max=2000, example=20.0,
                description="Coarse particulate matter (PM10)"),
        Feature(name="tvoc_ppb", unit="ppb", min=0, max=60000, example=220.0,
                description="Total volatile organic compounds"),
        Feature(name="co_ppm", unit="ppm", min=0, max=1000, example=0.4,
                description="Carbon monoxide concentration"),
        Feature(name="occupancy", dtype="int", unit="people", min=0, max=500, example=12,
                description="People counted in the zone"),
    ),
    class_names={"0": "idle", "1": "activate"},
)


@dataclass(frozen=True)
class ZoneConfig:
    """Physical parameters of the simulated zone and its weather (knobs for drift scenarios)."""

    volume_m3: float = 300.0
    capacity: int = 30
    occupancy_factor: float = 1.0  # >1: more people than usual (occupancy surge)
    outdoor_temperature_offset_c: float = 0.0  # >0: heat wave
    outdoor_co2_ppm: float = 420.0
    infiltration_ach: float = 0.4
    ventilation_ach_range: tuple[float, float] = (1.0, 4.0)
    heating_setpoint_c: float = 21.5
    night_setback_c: float = 18.0


def _ar1(rng: np.random.Generator, n: int, sigma: float, tau_steps: float) -> np.ndarray:
    """Stationary AR(1) noise with standard deviation `sigma` and correlation time `tau_steps`."""
    phi = float(np.exp(-1.0 / max(tau_steps, 1e-9)))
    eps = rng.normal(0.0, sigma * np.sqrt(1 - phi * phi), n)
    out = np.empty(n)
    acc = rng.normal(0.0, sigma)
    for i in range(n):
        acc = phi * acc + eps[i]
        out[i] = acc
    return out


def _relax(x0: float, ss: np.ndarray, decay: np.ndarray, events: np.ndarray) -> np.ndarray:
    """x[t] = ss[t] + (x[t-1] - ss[t]) * decay[t] + events[t]."""
    out = np.empty(len(ss))
    x = x0
    for i in range(len(ss)):
        x = ss[i] + (x - ss[i]) * decay[i] + events[i]
        out[i] = x
    return out


def _saturation_hpa(t_c: np.ndarray) -> np.ndarray:
    """Water vapour saturation pressure (Magnus formula)."""
    return 6.112 * np.exp(17.62 * t_c / (243.12 + t_c))


def _episodes(rng: np.random.Generator, n: int, dt_h: float, every_h: float,
              dur_h: tuple[float, float], size: tuple[float, float]) -> np.ndarray:
    """Smooth bumps (pollution episodes) arriving as a Poisson process."""
    out = np.zeros(n)
    t = rng.exponential(every_h)
    total_h = n * dt_h
    while t < total_h:
        dur = rng.uniform(*dur_h)
        amp = rng.uniform(*size)
        i0, i1 = int(t / dt_h), min(n, int((t + dur) / dt_h) + 1)
        if i1 > i0:
            phase = np.linspace(0, np.pi, i1 - i0)
            out[i0:i1] += amp * np.sin(phase)
        t += dur + rng.exponential(every_h)
    return out


def simulate(
    start: str | pd.Timestamp = "2026-01-05",
    periods: int = 40_320,
    freq_minutes: float = 2.0,
    seed: int = 0,
    zone: ZoneConfig | None = None,
) -> pd.DataFrame:
    """Readings of one zone: `measured_at` (UTC) plus every feature of `SCHEMA`, no label."""
    zone = zone or ZoneConfig()
    rng = np.random.default_rng(seed)
    n = int(periods)
    dt_h = freq_minutes / 60.0
    ts = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n, freq=pd.Timedelta(minutes=freq_minutes))
    hour = np.asarray(ts.hour + ts.minute / 60.0, dtype=float)
    weekday = np.asarray(ts.dayofweek < 5)
    day_index = np.asarray((ts - ts[0].normalize()).days)
    n_days = int(day_index.max()) + 1
    doy = np.asarray(ts.dayofyear, dtype=float)
    steps_per_h = 1.0 / dt_h

    # Weather.
    seasonal = 11.0 + 9.0 * np.sin(2 * np.pi * (doy - 105) / 365.25)
    t_out = (seasonal + 4.5 * np.sin(2 * np.pi * (hour - 9) / 24)
             + _ar1(rng, n, 2.5, 12 * steps_per_h) + zone.outdoor_temperature_offset_c)
    rh_out = np.clip(78 - 2.2 * (t_out - seasonal) + _ar1(rng, n, 6.0, 6 * steps_per_h), 25, 100)
    rush = np.exp(-((hour - 8.5) ** 2) / 1.5) + np.exp(-((hour - 18) ** 2) / 2.0)
    pm25_out = (7 + 3 * rush + _episodes(rng, n, dt_h, 96, (6, 36), (15, 70))) * np.exp(
        _ar1(rng, n, 0.15, 2 * steps_per_h))
    pm10_out = 1.6 * pm25_out + _episodes(rng, n, dt_h, 240, (3, 12), (20, 80))
    co_out = 0.2 + 0.6 * rush * weekday + np.abs(_ar1(rng, n, 0.05, steps_per_h))

    # Occupancy: schedule x per-day attendance x slow noise.
    arrive = np.clip((hour - 7.5) / 1.5, 0, 1)
    leave = np.clip((19.0 - hour) / 2.0, 0, 1)
    lunch = 1 - 0.4 * np.exp(-((hour - 12.5) ** 2) / 0.3)
    attendance = rng.uniform(0.55, 1.05, n_days)[day_index]
    expected = np.where(weekday, arrive * leave * lunch * attendance, 0.02)
    expected = zone.capacity * zone.occupancy_factor * expected
    occ_noise = _ar1(rng, n, 1.0, 0.5 * steps_per_h) * np.sqrt(expected + 0.25)
    occupancy = np.clip(np.round(expected + occ_noise), 0, None)

    # Air changes per hour: infiltration plus scheduled mechanical ventilation.
    mech_on = weekday & (hour >= 6.5) & (hour < 19.0)
    daily_rate = rng.uniform(*zone.ventilation_ach_range, n_days)[day_index]
    ach = zone.infiltration_ach + np.where(mech_on, daily_rate, 0.0)

    # CO2 (ppm): 0.0187 m³/h exhaled per person.
    co2_ss = zone.outdoor_co2_ppm + occupancy * 0.0187 / (ach * zone.volume_m3) * 1e6
    co2 = _relax(zone.outdoor_co2_ppm, co2_ss, np.exp(-ach * dt_h), np.zeros(n))

    # Temperature (°C): heating set-point, people, sun and outdoor exchange.
    setpoint = np.where(weekday & (hour >= 6) & (hour < 19), zone.heating_setpoint_c,
                        zone.night_setback_c)
    solar = 1.2 * np.clip(np.sin(np.pi * (hour - 7) / 12), 0, None)
    t_ss = (setpoint + 0.09 * occupancy + solar + 0.08 * (t_out - setpoint)
            + 0.45 * np.clip(t_out - setpoint, 0, None))
    t_in = _relax(setpoint[0], t_ss, np.full(n, np.exp(-dt_h / 1.5)), np.zeros(n))

    # Humidity: vapour pressure (hPa) follows outdoor air plus occupant moisture.
    e_out = rh_out / 100 * _saturation_hpa(t_out)
    e_ss = e_out + occupancy * 0.35 / (ach * zone.volume_m3 / 100)
    e_in = _relax(e_ss[0], e_ss, np.exp(-(ach + 0.2) * dt_h), np.zeros(n))
    rh_in = np.clip(100 * e_in / _saturation_hpa(t_in), 5, 100)

    occupied = occupancy > 0
    # PM2.5: infiltration of outdoor particles, deposition, indoor events (cooking, printing).
    k_pm = ach + 0.5
    pm_events = (rng.random(n) < 0.004 * dt_h * 60 * occupied) * rng.uniform(8, 70, n)
    pm25 = _relax(5.0, 0.7 * pm25_out * ach / k_pm, np.exp(-k_pm * dt_h), pm_events)
    # PM10 = fine fraction + coarse particles (outdoor dust, resuspension by occupants).
    k_coarse = ach + 1.5
    coarse = _relax(3.0, 0.5 * (pm10_out - pm25_out).clip(0) * ach / k_coarse
                    + 0.9 * occupancy, np.exp(-k_coarse * dt_h),
                    pm_events * rng.uniform(0.2, 0.6, n))
    pm10 = pm25 + coarse

    # TVOC (ppb): occupants, evening cleaning, occasional product use.
    cleaning = weekday & (hour >= 18.5) & (hour < 20)
    voc_events = ((rng.random(n) < 0.03 * dt_h * 60 * cleaning) * rng.uniform(200, 900, n)
                  + (rng.random(n) < 0.0015 * dt_h * 60) * rng.uniform(50, 400, n))
    k_voc = ach + 0.1
    tvoc = _relax(80.0, 60 + 14 * occupancy / np.maximum(ach, 0.5), np.exp(-k_voc * dt_h),
                  voc_events)

    # CO (ppm): outdoor traffic plus rare appliance faults.
    co_events = (rng.random(n) < 0.0001 * dt_h * 60) * rng.uniform(6, 35, n)
    co = _relax(0.3, co_out, np.exp(-ach * dt_h), co_events)

    # Sensors: noise and resolution, clipped to what the sensor can report.
    def sense(x: np.ndarray, sd: float, rel: float, decimals: int, name: str) -> np.ndarray:
        f = SCHEMA.feature(name)
        noisy = x + rng.normal(0, sd, n) + x * rng.normal(0, rel, n)
        return np.round(np.clip(noisy, f.min, f.max), decimals)

    return pd.DataFrame({
        "measured_at": ts,
        "temperature_c": sense(t_in, 0.1, 0.0, 2, "temperature_c"),
        "humidity_pct": sense(rh_in, 0.8, 0.0, 1, "humidity_pct"),
        "co2_ppm": sense(co2, 12.0, 0.01, 0, "co2_ppm"),
        "pm25_ugm3": sense(pm25, 0.8, 0.05, 1, "pm25_ugm3"),
        "pm10_ugm3": sense(pm10, 1.2, 0.05, 1, "pm10_ugm3"),
        "tvoc_ppb": sense(tvoc, 8.0, 0.03, 0, "tvoc_ppb"),
        "co_ppm": sense(co, 0.03, 0.02, 2, "co_ppm"),
        "occupancy": occupancy.astype(np.int64),
    })


def generate(
    start: str | pd.Timestamp = "2026-01-05",
    periods: int = 40_320,
    freq_minutes: float = 2.0,
    seed: int = 0,
    zone: ZoneConfig | None = None,
    policy: VentilationPolicy | None = None,
    label_noise: float = 0.02,
) -> pd.DataFrame:
    """`simulate` plus the ground truth `ventilation_needed` from `policy` with label noise."""
    df = simulate(start, periods, freq_minutes, seed, zone)
    df[TARGET] = (policy or VentilationPolicy()).label(df, label_noise, seed + 1)
    return df

