"""The Drift lab's controls, generated from the feature schema: slider ranges, widget keys, scenarios.

Ranges come from each feature's physical range and unit, scaled to how much the feature
actually varies in the reference sample (CO as ppm spans 0..1000 physically but varies by
tenths): a shift slider reaches ten reference standard deviations, never beyond half the
physical span. Widget values map to a `Scenario` and back, so presets fill the sliders
and the sliders define the scenario a replay sends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from app.data.policy import VentilationPolicy
from app.replay.scenarios import FeatureDrift, Scenario, ZoneDrift
from app.replay.units import unit_errors
from app.schema import Feature, FeatureSchema

PREFIX = "drift_"
NO_UNIT_ERROR = "none"
# Which feature each policy threshold compares against (VentilationPolicy.reasons).
POLICY_FEATURES = {
    "co2_max_ppm": "co2_ppm", "pm25_max_ugm3": "pm25_ugm3", "pm10_max_ugm3": "pm10_ugm3",
    "tvoc_max_ppb": "tvoc_ppb", "co_max_ppm": "co_ppm", "hot_temperature_c": "temperature_c",
    "humid_pct": "humidity_pct",
}
# Slider reach in reference standard deviations, and the share of the physical span it may not pass.
SHIFT_SIGMAS = 10.0
MAX_SPAN_SHARE = 0.5


def nice(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above x."""
    if x <= 0:
        return 1.0
    exp = math.floor(math.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10 ** exp >= x * (1 - 1e-9):
            return float(m * 10 ** exp)
    return float(10 ** (exp + 1))


@dataclass(frozen=True)
class SliderSpec:
    label: str
    min: float
    max: float
    step: float
    help: str = ""

    @property
    def format(self) -> str:
        decimals = max(0, -math.floor(math.log10(self.step))) if self.step < 1 else 0
        return f"%.{decimals}f"


def key(field: str, feature: str | None = None) -> str:
    """Widget key, e.g. drift_shift_co2_ppm or drift_clip."""
    return f"{PREFIX}{field}" + (f"_{feature}" if feature else "")


def _unit(f: Feature) -> str:
    return f" ({f.unit})" if f.unit else ""


def feature_sliders(f: Feature, std: float) -> dict[str, SliderSpec]:
    """Sliders of one feature: shift (unit), shift (σ), scale, noise, missing share."""
    span = f.max - f.min
    reach = min(nice(SHIFT_SIGMAS * std if std > 0 else span), MAX_SPAN_SHARE * span)
    step = nice(reach / 500)
    if f.dtype == "int":
        step = max(1.0, step)
    sigma = f"σ = {std:.3g}{' ' + f.unit if f.unit else ''} in the reference"
    return {
        "shift": SliderSpec(f"shift{_unit(f)}", -reach, reach, step, f"Added to every reading; {sigma}"),
        "shift_std": SliderSpec("shift (reference σ)", -5.0, 5.0, 0.1,
                                f"Added in standard deviations; {sigma}"),
        "scale": SliderSpec("gain (×)", 0.0, 3.0, 0.05,
                            "Every reading multiplied by this (1 = no gain error)"),
        "noise_std": SliderSpec(f"noise σ{_unit(f)}", 0.0, reach / 2, step,
                                "Standard deviation of Gaussian noise added to each reading"),
        "missing_share": SliderSpec("missing share", 0.0, 1.0, 0.05,
                                    "Share of readings sent with this feature as null (sensor had no value)"),
    }


def policy_sliders(policy: VentilationPolicy, schema: FeatureSchema) -> dict[str, SliderSpec]:
    """One slider per policy threshold, within the physical range of the feature it applies to."""
    out = {}
    for name, value in policy.model_dump().items():
        feature = POLICY_FEATURES.get(name)
        if feature is None or feature not in schema.names:
            continue
        f = schema.feature(feature)
        high = min(f.max, nice(3 * value)) if value > 0 else f.max
        low = max(f.min, 0.0) if f.min >= 0 else max(f.min, -high)
        out[name] = SliderSpec(f"{name}{_unit(f)}", low, high, nice((high - low) / 500),
                               f"The model's policy: {value:g}")
    return out


ZONE_SLIDERS = {
    "occupancy_factor": SliderSpec("occupancy (× usual)", 0.25, 4.0, 0.05,
                                   "More (or fewer) people than usual"),
    "outdoor_temperature_offset_c": SliderSpec("outdoor temperature (°C vs season)", -20.0, 30.0, 0.5,
                                               "Heat wave (> 0) or cold spell (< 0)"),
}


def unit_choices(f: Feature) -> list[str]:
    return [NO_UNIT_ERROR, *(e.wrong_unit for e in unit_errors(f))]


def values_of(scenario: Scenario, schema: FeatureSchema, policy: VentilationPolicy | None) -> dict[str, Any]:
    """Widget key -> value showing `scenario` (every control, the untouched ones at rest)."""
    values: dict[str, Any] = {key("tag"): scenario.name, key("clip"): scenario.clip}
    for f in schema.features:
        drift = scenario.features.get(f.name, FeatureDrift())
        values[key("shift", f.name)] = drift.shift
        values[key("shift_std", f.name)] = drift.shift_std
        values[key("scale", f.name)] = drift.scale
        values[key("noise_std", f.name)] = drift.noise_std
        values[key("missing_share", f.name)] = drift.missing_share
        values[key("stuck", f.name)] = drift.stuck
        values[key("unit_error", f.name)] = drift.unit_error or NO_UNIT_ERROR
    if policy is not None:
        in_force = scenario.ground_truth_policy(policy)
        assert in_force is not None
        for name, value in in_force.model_dump().items():
            values[key("policy", name)] = value
    for name in ZONE_SLIDERS:
        values[key("zone", name)] = getattr(scenario.zone, name)
    return values


def scenario_of(values: dict[str, Any], schema: FeatureSchema, policy: VentilationPolicy | None,
                title: str = "", description: str = "") -> Scenario:
    """The scenario the controls show (ValidationError if the tag is not a valid scenario tag)."""
    features = {}
    for f in schema.features:
        drift = FeatureDrift(
            stuck=bool(values.get(key("stuck", f.name), False)),
            unit_error=(None if values.get(key("unit_error", f.name), NO_UNIT_ERROR) == NO_UNIT_ERROR
                        else values[key("unit_error", f.name)]),
            scale=float(values.get(key("scale", f.name), 1.0)),
            shift=float(values.get(key("shift", f.name), 0.0)),
            shift_std=float(values.get(key("shift_std", f.name), 0.0)),
            noise_std=float(values.get(key("noise_std", f.name), 0.0)),
            missing_share=float(values.get(key("missing_share", f.name), 0.0)),
        )
        if not drift.is_identity():
            features[f.name] = drift
    thresholds = {}
    if policy is not None:
        for name, base in policy.model_dump().items():
            value = values.get(key("policy", name), base)
            if not math.isclose(float(value), float(base)):
                thresholds[name] = float(value)
    zone = ZoneDrift(**{name: float(values.get(key("zone", name), getattr(ZoneDrift(), name)))
                        for name in ZONE_SLIDERS})
    return Scenario(name=str(values.get(key("tag"), "custom")) or "custom", title=title,
                    description=description, features=features, policy=thresholds, zone=zone,
                    clip=bool(values.get(key("clip"), False)))
