"""Drift scenarios: sensor faults per feature and concept drift, applied to a stream of readings.

A scenario has three parts:
- `features`: what faulty sensors do to the readings the API receives (mean shift in the
  feature's unit or in reference standard deviations, gain, noise, missing values, a stuck
  sensor, a unit error). The ground truth keeps coming from the true air: a CO2 sensor
  reading 400 ppm high does not make the room need ventilation.
- `policy`: ventilation-policy thresholds that differ from the model's (concept drift: the
  same air now gets another label).
- `zone`: knobs of the simulated zone (occupancy surge, heat wave); these change the air
  itself and so need the generator as the source.

Missing values are sent as JSON null: the API reads null as "the sensor had no value"
(the model handles it and `ventwatch_input_missing_total` counts it), while a feature
left out of a reading is a 422.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.api.wire import SCENARIO_PATTERN
from app.data.policy import VentilationPolicy
from app.data.synthetic import ZoneConfig
from app.replay.units import unit_error
from app.schema import FeatureSchema


class ScenarioError(ValueError):
    """A scenario that cannot run with this model's schema, policy or source."""


class FeatureDrift(BaseModel):
    """What a faulty sensor does to one feature, applied in the order of the fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stuck: bool = Field(default=False, description="The sensor repeats one value")
    stuck_value: float | None = Field(default=None, description="The value repeated; None: the first read")
    unit_error: str | None = Field(default=None, description="The wrong unit it reports in, e.g. °F")
    scale: float = Field(default=1.0, ge=0, description="Gain error: the value is multiplied by this")
    shift: float = Field(default=0.0, description="Offset added, in the feature's unit")
    shift_std: float = Field(default=0.0, description="Offset added, in standard deviations of the reference")
    noise_std: float = Field(default=0.0, ge=0, description="Gaussian noise added, in the feature's unit")
    missing_share: float = Field(default=0.0, ge=0, le=1, description="Share of readings sent as null")

    def is_identity(self) -> bool:
        return self == FeatureDrift()

    def describe(self, unit: str) -> str:
        """'+400 ppm, 10 % missing' — the active parts only."""
        u = f" {unit}" if unit else ""
        parts = []
        if self.stuck:
            parts.append("stuck" + (f" at {self.stuck_value:g}{u}" if self.stuck_value is not None else ""))
        if self.unit_error:
            parts.append(f"reported in {self.unit_error}")
        if self.scale != 1:
            parts.append(f"×{self.scale:g}")
        if self.shift:
            parts.append(f"{self.shift:+g}{u}")
        if self.shift_std:
            parts.append(f"{self.shift_std:+g} σ")
        if self.noise_std:
            parts.append(f"noise σ {self.noise_std:g}{u}")
        if self.missing_share:
            parts.append(f"{self.missing_share:.0%} missing")
        return ", ".join(parts)


class ZoneDrift(BaseModel):
    """Knobs of the simulated zone (`app.data.synthetic.ZoneConfig`) that change the air itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    occupancy_factor: float = Field(default=1.0, gt=0, le=10, description=">1: more people than usual")
    outdoor_temperature_offset_c: float = Field(default=
        0.0, ge=-30, le=40, description="Outdoor air warmer (heat wave) or colder than the season")

    def is_identity(self) -> bool:
        return self == ZoneDrift()

    def config(self, base: ZoneConfig | None = None) -> ZoneConfig:
        return replace(base or ZoneConfig(), occupancy_factor=self.occupancy_factor,
                       outdoor_temperature_offset_c=self.outdoor_temperature_offset_c)


class Scenario(BaseModel):
    """A named combination of sensor faults and concept drift; its name tags every request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=SCENARIO_PATTERN, description="Tag sent with every reading")
    title: str = ""
    description: str = ""
    features: dict[str, FeatureDrift] = Field(default_factory=dict)
    policy: dict[str, float] = Field(
        default_factory=dict, description="Ventilation-policy thresholds that differ (ground truth)")
    zone: ZoneDrift = ZoneDrift()
    clip: bool = Field(default=False, description="Sensors saturate at their physical range "
                                          "(otherwise out-of-range values reach the API, which rejects them)")

    @field_validator("policy")
    @classmethod
    def _known_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(VentilationPolicy.model_fields))
        if unknown:
            raise ValueError(f"unknown policy thresholds {unknown}; "
                             f"known: {sorted(VentilationPolicy.model_fields)}")
        return value

    @property
    def active_features(self) -> dict[str, FeatureDrift]:
        return {name: d for name, d in self.features.items() if not d.is_identity()}

    def needs_generator(self) -> bool:
        return not self.zone.is_identity()

    def ground_truth_policy(self, base: VentilationPolicy | None) -> VentilationPolicy | None:
        """The policy in force for this scenario: the model's, with this scenario's thresholds."""
        if base is None:
            return None
        return base.model_copy(update=self.policy) if self.policy else base

    def check(self, schema: FeatureSchema, policy: VentilationPolicy | None,
              source: str | None = None) -> None:
        """Raise ScenarioError if this scenario cannot run with this model and source."""
        absent = sorted(set(self.active_features) - set(schema.names))
        if absent:
            raise ScenarioError(
                f"scenario {self.name!r} drifts {', '.join(absent)}, which this model "
                f"({schema.dataset}) does not have; its features are {', '.join(schema.names)}")
        for name, drift in self.active_features.items():
            if drift.unit_error:
                try:
                    unit_error(schema.feature(name), drift.unit_error)
                except ValueError as exc:
                    raise ScenarioError(f"scenario {self.name!r}: {exc}") from exc
        if self.policy and policy is None:
            raise ScenarioError(
                f"scenario {self.name!r} changes the ventilation policy "
                f"({', '.join(f'{k}={v:g}' for k, v in self.policy.items())}), but this model "
                f"({schema.dataset}) was not trained from a policy; only synthetic bundles have one")
        if self.needs_generator() and source is not None and source != "generator":
            raise ScenarioError(
                f"scenario {self.name!r} changes the simulated zone ({self.describe_zone()}), "
                f"which only the generator source can do; {source!r} replays recorded readings")

    def describe_zone(self) -> str:
        parts = []
        if self.zone.occupancy_factor != 1:
            parts.append(f"occupancy ×{self.zone.occupancy_factor:g}")
        if self.zone.outdoor_temperature_offset_c:
            parts.append(f"outdoor {self.zone.outdoor_temperature_offset_c:+g} °C")
        return ", ".join(parts)

    def summary(self, schema: FeatureSchema | None = None) -> list[str]:
        """One line per active part, e.g. 'co2_ppm: +400 ppm'."""
        lines = []
        for name, drift in self.active_features.items():
            unit = schema.feature(name).unit if schema and name in schema.names else ""
            lines.append(f"{name}: {drift.describe(unit)}")
        if self.policy:
            lines.append("policy: " + ", ".join(f"{k} = {v:g}" for k, v in self.policy.items()))
        if self.needs_generator():
            lines.append(f"zone: {self.describe_zone()}")
        if self.clip:
            lines.append("values clipped to the sensors' physical range")
        return lines


@dataclass(frozen=True)
class ReferenceStats:
    """Per-feature mean and standard deviation of the model's reference sample."""

    mean: dict[str, float]
    std: dict[str, float]

    @classmethod
    def of(cls, reference: pd.DataFrame, schema: FeatureSchema) -> ReferenceStats:
        cols = [f for f in schema.names if f in reference.columns]
        values = reference[cols].astype(float)
        return cls(mean={c: float(values[c].mean()) for c in cols},
                   std={c: float(values[c].std()) if len(values) > 1 else 0.0 for c in cols})


def inject(frame: pd.DataFrame, scenario: Scenario, schema: FeatureSchema,
           stats: ReferenceStats, seed: int = 0) -> pd.DataFrame:
    """The readings as the scenario's sensors report them (`frame` holds the true values).

    Random parts (noise, which readings go missing) draw from one generator per feature
    seeded by (seed, feature position): changing one feature's drift leaves the others alone.
    """
    out = frame.copy()
    for position, feature in enumerate(schema.features):
        drift = scenario.features.get(feature.name)
        if drift is None or drift.is_identity() or feature.name not in out.columns:
            continue
        rng = np.random.default_rng([seed, position])
        x = out[feature.name].to_numpy(dtype=np.float64, copy=True)
        if drift.stuck and len(x):
            finite = x[np.isfinite(x)]
            value = drift.stuck_value if drift.stuck_value is not None else (
                float(finite[0]) if len(finite) else np.nan)
            x[:] = value
        if drift.unit_error:
            x = unit_error(feature, drift.unit_error).apply(x)
        x = x * drift.scale + drift.shift + drift.shift_std * stats.std.get(feature.name, 0.0)
        if drift.noise_std:
            x = x + rng.normal(0.0, drift.noise_std, len(x))
        if scenario.clip:
            x = np.clip(x, feature.min, feature.max)
        if feature.dtype == "int":
            x = np.round(x)
        if drift.missing_share:
            x[rng.random(len(x)) < drift.missing_share] = np.nan
        out[feature.name] = x
    return out


CLEAN = Scenario(name="clean", title="Clean traffic",
                 description="Readings as the source has them; ground truth from the model's policy.")

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    CLEAN,
    Scenario(name="co2-offset", title="CO2 sensor offset +400 ppm",
             description="The CO2 sensor reads 400 ppm high (calibration drift); the air, and so "
                         "the ground truth, is unchanged.",
             features={"co2_ppm": FeatureDrift(shift=400.0)}),
    Scenario(name="stuck-humidity", title="Stuck humidity sensor",
             description="The humidity sensor keeps sending the first value it read.",
             features={"humidity_pct": FeatureDrift(stuck=True)}),
    Scenario(name="heat-wave", title="Heat wave",
             description="Outdoor air 20 °C warmer than the season: the zone overheats and its "
                         "humidity changes (generator source only).",
             zone=ZoneDrift(outdoor_temperature_offset_c=20.0)),
    Scenario(name="occupancy-surge", title="Occupancy surge",
             description="Twice the usual number of people: CO2, humidity and particles rise "
                         "(generator source only).",
             zone=ZoneDrift(occupancy_factor=2.0)),
    Scenario(name="stricter-co2", title="Stricter CO2 policy (800 ppm)",
             description="Concept drift: ventilation is now needed above 800 ppm CO2 instead of "
                         "1000; the readings do not change, their labels do.",
             policy={"co2_max_ppm": 800.0}),
)}


def named(name: str) -> Scenario:
    """A predefined scenario by name; ScenarioError listing the names if unknown."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ScenarioError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}") from None
