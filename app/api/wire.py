"""Request and response models, generated from the feature schema (never restated by hand)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, with_config
from typing_extensions import TypedDict

from app.schema import FeatureSchema

SCENARIO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
Scenario = Annotated[
    str | None,
    Field(pattern=SCENARIO_PATTERN,
          description="Free tag recorded with the prediction (e.g. a drift scenario); "
                      "also accepted as the X-Scenario header"),
]
MeasuredAt = Annotated[
    datetime | None,
    Field(description="When the sensor measured (ISO 8601; no offset means UTC). "
                            "Default: the time the API received the reading"),
]


class Prediction(BaseModel):
    prediction_id: str = Field(description="Use it to submit the ground truth to /labels")
    predicted_class: int
    probability: float = Field(description="Probability that ventilation is needed")
    action: Literal["activate", "idle"]
    model_version: str


class BatchPrediction(BaseModel):
    prediction_id: str
    predicted_class: int
    probability: float
    action: Literal["activate", "idle"]


class BatchResponse(BaseModel):
    model_version: str
    predictions: list[BatchPrediction]


class LabelsResponse(BaseModel):
    accepted: int


def _one_of(classes: tuple[int, ...]) -> Callable[[int], int]:
    def check(value: int) -> int:
        if value not in classes:
            raise ValueError(f"must be one of the classes {list(classes)}, got {value}")
        return value

    return check


@dataclass(frozen=True)
class WireModels:
    """The generated request models of one feature schema."""

    reading: Any  # a TypedDict class
    batch: Any
    labels: Any


def build(schema: FeatureSchema, max_batch_rows: int, max_labels: int) -> WireModels:
    fields: dict[str, Any] = {}
    for f in schema.features:
        py_type: Any = int if f.dtype == "int" else float
        fields[f.name] = Annotated[
            py_type | None,
            # strict: "21.5" (a string) is a client bug, not a number.
            Field(strict=True, ge=f.min, le=f.max, allow_inf_nan=False,
                  description=f"{f.description} [{f.unit or 'no unit'}], physical range "
                              f"{f.min:g}..{f.max:g}; null when the sensor has no value",
                  examples=[f.example]),
        ]
    fields["measured_at"] = NotRequired[MeasuredAt]
    fields["scenario"] = NotRequired[Scenario]
    example: dict[str, Any] = {**schema.example(), "measured_at": "2026-11-26T09:30:00Z"}
    # A TypedDict, not a model: validating 1,000 readings into dicts is cheaper than
    # building 1,000 model instances, and the handlers only read values by name.
    reading: Any = with_config(ConfigDict(extra="forbid", title="Reading",
                                          json_schema_extra={"examples": [example]}))(
        TypedDict("Reading", fields))  # type: ignore[operator]
    # Generated models: their field types exist only at run time, hence `Any` for mypy.
    batch_fields: dict[str, Any] = {
        "readings": (Annotated[list[reading], Field(min_length=1, max_length=max_batch_rows,
                                                    description=f"1 to {max_batch_rows} readings")],
                     ...),
        "scenario": (Scenario, None),
    }
    batch = create_model("BatchRequest", __config__=ConfigDict(extra="forbid"), **batch_fields)
    classes = schema.classes
    label_fields: dict[str, Any] = {
        "prediction_id": (Annotated[str, Field(min_length=36, max_length=36,
                                               description="As returned by /predict")], ...),
        # strict int: `true` and `1.0` are not a class (Literal[0, 1] would accept both).
        "label": (Annotated[int, Field(strict=True, description=f"Ground truth, one of {list(classes)}"),
                            AfterValidator(_one_of(classes))], ...),
    }
    label = create_model("Label", __config__=ConfigDict(extra="forbid"), **label_fields)
    labels_fields: dict[str, Any] = {
        "labels": (Annotated[list[label], Field(min_length=1, max_length=max_labels)], ...),
    }
    labels = create_model("LabelsRequest", __config__=ConfigDict(extra="forbid"), **labels_fields)
    return WireModels(reading=reading, batch=batch, labels=labels)
