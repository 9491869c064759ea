"""Unit errors a misconfigured sensor makes, derived from the unit a feature's schema declares.

A unit error is a linear conversion: the sensor reports the true quantity in another unit
(°F instead of °C, ppb instead of ppm…), so the value becomes `value * factor + offset`.
Features whose unit has no entry here (counts, CSV columns without a unit) offer none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.schema import Feature


@dataclass(frozen=True)
class UnitError:
    """The sensor reports in `wrong_unit` what the schema expects in `unit`."""

    unit: str
    wrong_unit: str
    factor: float
    offset: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.wrong_unit} for {self.unit}"

    def apply(self, values: np.ndarray) -> np.ndarray:
        return values * self.factor + self.offset


# Keyed by the unit the schema declares; each entry lists the mistakes plausible for it.
_ERRORS: dict[str, tuple[UnitError, ...]] = {
    "°C": (UnitError("°C", "°F", 9 / 5, 32.0), UnitError("°C", "K", 1.0, 273.15)),
    "ppm": (UnitError("ppm", "ppb", 1000.0), UnitError("ppm", "%", 1e-4)),
    "ppb": (UnitError("ppb", "ppm", 1e-3),),
    "µg/m³": (UnitError("µg/m³", "mg/m³", 1e-3), UnitError("µg/m³", "ng/m³", 1000.0)),
    "%": (UnitError("%", "fraction", 0.01),),
    "kg/kg": (UnitError("kg/kg", "g/kg", 1000.0),),
    "lx": (UnitError("lx", "fc", 1 / 10.764),),
}


def unit_errors(feature: Feature) -> tuple[UnitError, ...]:
    """The unit errors a sensor of `feature` can make (none if its unit is unknown)."""
    return _ERRORS.get(feature.unit, ())


def unit_error(feature: Feature, wrong_unit: str) -> UnitError:
    """The error that reports `feature` in `wrong_unit`; ValueError naming the choices if none."""
    for error in unit_errors(feature):
        if error.wrong_unit == wrong_unit:
            return error
    choices = [e.wrong_unit for e in unit_errors(feature)]
    raise ValueError(
        f"{feature.name}: no unit error {wrong_unit!r} for a quantity in "
        f"{feature.unit or 'no unit'}; choose one of {choices}" if choices else
        f"{feature.name}: no unit error is defined for unit {feature.unit or '(none)'!r}")
