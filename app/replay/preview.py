"""The Drift lab's preview: the reference distribution of each feature next to the injected one.

Sensor faults are applied to a sample of the reference itself, so with no drift the two
distributions coincide and whatever differs is the scenario. Zone knobs (occupancy surge,
heat wave) change the air, so for them the generator simulates the reference's own
period with the knobs turned. Concept drift does not move any feature; it shows as the
share of readings whose ground truth says "ventilate".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.data import synthetic
from app.data.policy import VentilationPolicy
from app.replay import sources
from app.replay.scenarios import ReferenceStats, Scenario, inject
from app.schema import MEASURED_AT, FeatureSchema


@dataclass
class Distribution:
    """Binned densities of one feature (shares of the non-missing readings per bin)."""

    feature: str
    label: str
    centers: list[float]
    width: float
    reference: list[float]
    injected: list[float]
    reference_mean: float | None
    injected_mean: float | None
    missing_share: float  # of the injected readings
    out_of_range: int  # injected readings outside the physical range


@dataclass
class Preview:
    reference: pd.DataFrame
    injected: pd.DataFrame
    distributions: list[Distribution]
    truth_rate_reference: float | None  # share of positive ground truth under the model's policy
    truth_rate_injected: float | None  # ... under the scenario's policy, on the true readings
    note: str
    rejected_share: float = 0.0  # injected readings with any feature outside its physical range


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else None


def distribution(feature: str, label: str, reference: np.ndarray, injected: np.ndarray,
                 low: float, high: float, bins: int = 40) -> Distribution:
    ref, inj = reference[np.isfinite(reference)], injected[np.isfinite(injected)]
    both = np.concatenate([ref, inj])
    if len(both):
        lo, hi = np.quantile(both, [0.002, 0.998]) if len(both) > 50 else (both.min(), both.max())
    else:
        lo, hi = low, high
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)

    def density(x: np.ndarray) -> list[float]:
        if not len(x):
            return [0.0] * bins
        # Values past the ends land in the end bins: a long tail stays visible.
        counts = np.bincount(np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1),
                             minlength=bins)
        return (counts / len(x)).round(5).tolist()

    return Distribution(
        feature=feature, label=label, centers=((edges[:-1] + edges[1:]) / 2).round(6).tolist(),
        width=float(edges[1] - edges[0]), reference=density(ref), injected=density(inj),
        reference_mean=_mean(reference), injected_mean=_mean(injected),
        missing_share=float(np.isnan(injected).mean()) if len(injected) else 0.0,
        out_of_range=int(((inj < low) | (inj > high)).sum()))


def _positive_rate(frame: pd.DataFrame, policy: VentilationPolicy | None, target: str) -> float | None:
    if policy is not None and all(c in frame.columns for c in sources.POLICY_COLUMNS):
        return float(policy.apply(frame).mean())
    if target in frame.columns:
        return float(frame[target].mean())
    return None


def build(schema: FeatureSchema, policy: VentilationPolicy | None, reference: pd.DataFrame,
          stats: ReferenceStats, scenario: Scenario, rows: int = 2000, seed: int = 0,
          bins: int = 40) -> Preview:
    """Reference vs injected for every feature; ScenarioError/SourceError if the scenario cannot run."""
    scenario.check(schema, policy)
    ordered = reference.sort_values(MEASURED_AT, kind="stable").reset_index(drop=True)
    sample = ordered.sample(min(rows, len(ordered)), random_state=seed).sort_values(MEASURED_AT)
    if scenario.needs_generator():
        sources.check_generator(schema)
        times = pd.DatetimeIndex(ordered[MEASURED_AT])
        step = pd.Series(times).diff().median()
        step = step if pd.notna(step) and step > pd.Timedelta(0) else pd.Timedelta(minutes=2)
        periods = int((times.max() - times.min()) / step) + 1
        simulated = synthetic.simulate(start=times.min().tz_convert("UTC").tz_localize(None),
                                       periods=periods, freq_minutes=step.total_seconds() / 60,
                                       seed=seed, zone=scenario.zone.config())
        true = simulated.sample(min(rows, len(simulated)), random_state=seed).sort_values(MEASURED_AT)
        note = (f"Injected: the generator over the reference period ({times.min():%Y-%m-%d} → "
                f"{times.max():%Y-%m-%d}) with {scenario.describe_zone()}, then the sensor faults.")
    else:
        true = sample
        note = "Injected: the same reference readings with the scenario's sensor faults applied."
    injected = inject(true.reset_index(drop=True), scenario, schema, stats, seed=seed)
    dists = [distribution(f.name, f.label, sample[f.name].to_numpy(dtype=float),
                          injected[f.name].to_numpy(dtype=float), f.min, f.max, bins)
             for f in schema.features]
    values = injected[schema.names].to_numpy(dtype=float)
    low, high = (np.array([getattr(f, side) for f in schema.features]) for side in ("min", "max"))
    outside = ((values < low) | (values > high)).any(axis=1)  # NaN (missing) compares False
    return Preview(
        reference=sample, injected=injected, distributions=dists,
        rejected_share=float(outside.mean()) if len(values) else 0.0,
        truth_rate_reference=_positive_rate(sample, policy, schema.target),
        truth_rate_injected=_positive_rate(true, scenario.ground_truth_policy(policy), schema.target),
        note=note)
