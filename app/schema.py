"""The feature schema: the one description of a model's inputs and classes everything derives from."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class Feature(BaseModel):
    """One model input: what it is, in which unit, and which values are physically possible."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dtype: Literal["float", "int"] = "float"
    unit: str = ""
    min: float
    max: float
    description: str = ""
    example: float
    buckets: tuple[float, ...] | None = Field(
        None, description="Histogram bucket bounds for input metrics (set at training time)"
    )

    @model_validator(mode="after")
    def _check(self) -> Feature:
        if not _NAME.match(self.name):
            raise ValueError(f"feature name {self.name!r} must match {_NAME.pattern}")
        if not self.min < self.max:
            raise ValueError(f"feature {self.name}: min {self.min} must be below max {self.max}")
        if not self.min <= self.example <= self.max:
            raise ValueError(f"feature {self.name}: example {self.example} outside its range")
        if self.buckets is not None and (
            list(self.buckets) != sorted(set(self.buckets))
            or not all(self.min <= b <= self.max for b in self.buckets)
        ):
            raise ValueError(f"feature {self.name}: buckets must increase within [min, max]")
        return self

    def histogram_buckets(self) -> tuple[float, ...]:
        """Bucket bounds for this feature's input histogram (10 linear ones if none were set)."""
        if self.buckets:
            return self.buckets
        step = (self.max - self.min) / 10
        return tuple(round(self.min + step * i, 6) for i in range(1, 11))

    @property
    def label(self) -> str:
        """Human label with unit, e.g. 'co2_ppm (ppm)'."""
        return f"{self.name} ({self.unit})" if self.unit else self.name


class FeatureSchema(BaseModel):
    """Inputs, target and classes of one binary ventilation model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str = Field(description="Where the training data came from")
    features: tuple[Feature, ...]
    target: str = Field(description="Ground-truth column name, e.g. ventilation_needed")
    classes: tuple[int, int] = (0, 1)
    positive_class: int = Field(1, description="The class that means 'switch ventilation on'")
    class_names: dict[str, str] = Field(
        default_factory=lambda: {"0": "idle", "1": "activate"},
        description="Display name per class",
    )

    @model_validator(mode="after")
    def _check(self) -> FeatureSchema:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate feature names in {names}")
        if not names:
            raise ValueError("a schema needs at least one feature")
        if self.positive_class not in self.classes:
            raise ValueError(f"positive_class {self.positive_class} not in classes {self.classes}")
        return self

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def example(self) -> dict[str, float | int]:
        """One valid reading, used for OpenAPI examples and smoke tests."""
        return {f.name: (int(f.example) if f.dtype == "int" else f.example) for f in self.features}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.model_dump(mode="json"), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> FeatureSchema:
        return cls.model_validate_json(path.read_bytes())


# Log columns that are not features (the feature columns come from the schema).
PREDICTION_ID = "prediction_id"
MEASURED_AT = "measured_at"
RECEIVED_AT = "received_at"
SCENARIO = "scenario"
MODEL_VERSION = "model_version"
PREDICTED_CLASS = "predicted_class"
PROBABILITY = "probability"
LATENCY = "latency_seconds"
LABEL = "label"
LABELLED_AT = "labelled_at"
