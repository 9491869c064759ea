"""Turning bad input into 4xx answers that name the field and the rule broken."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.edge import too_large_message
from app.api.metrics import ApiMetrics
from app.api.responses import json_response
from app.schema import FeatureSchema

_REASONS = {
    "missing": "missing",
    "extra_forbidden": "extra",
    "json_invalid": "malformed_json",
    "finite_number": "not_finite",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "too_long": "batch_too_large",
}


class InputError(Exception):
    """A request the schema accepts but the API must refuse (e.g. measured_at in the future)."""

    def __init__(self, status: int, reason: str, field: str, message: str,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.field = field
        self.message = message
        self.extra = extra or {}


def field_path(loc: Sequence[str | int]) -> str:
    """('body', 'readings', 3, 'co2_ppm') -> 'readings[3].co2_ppm'."""
    if len(loc) == 2 and loc[0] == "body" and isinstance(loc[1], int):
        return "body"  # a JSON syntax error at a character position
    parts = [p for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def _reason(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind in _REASONS:
        return _REASONS[kind]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "type"
    return "invalid"


def explain(error: dict[str, Any], schema: FeatureSchema, max_batch_rows: int) -> str:
    """One sentence per validation error: field, rule, and what would be accepted."""
    field = field_path(error.get("loc", ()))
    name = next((p for p in reversed(error.get("loc", ())) if isinstance(p, str)), "")
    kind = error.get("type", "")
    given = error.get("input")
    if kind == "missing":
        if field == "body":
            return "body: the request body is empty; send a JSON object"
        return f"{field}: required field is missing (send null if the sensor has no value)" \
            if name in schema.names else f"{field}: required field is missing"
    if kind == "extra_forbidden":
        return f"{field}: unknown field; accepted fields are {', '.join(schema.names)}, " \
               "measured_at, scenario"
    if kind == "json_invalid":
        return f"body: malformed JSON ({error.get('ctx', {}).get('error', error.get('msg'))})"
    if kind == "finite_number":
        return f"{field}: must be a finite number, got {given!r}"
    if kind in ("greater_than_equal", "less_than_equal") and name in schema.names:
        f = schema.feature(name)
        return (f"{field}: {given!r} is outside the physical range {f.min:g}..{f.max:g}"
                f"{' ' + f.unit if f.unit else ''}")
    if kind == "too_long" and name == "readings":
        return f"readings: a batch holds at most {max_batch_rows} readings " \
               f"(VENTWATCH_MAX_BATCH_ROWS); split it"
    if kind in ("model_attributes_type", "dict_type", "model_type") and field == "body":
        return "body: must be a JSON object sent with Content-Type: application/json"
    if kind == "string_pattern_mismatch" and name in ("scenario", "x-scenario"):
        return f"{field}: a scenario tag is 1-64 letters, digits or . _ : - (starting with a " \
               f"letter or digit), got {given!r}"
    if kind in ("float_type", "int_type", "float_parsing", "int_parsing"):
        want = "a whole number" if kind.startswith("int") else "a number"
        return f"{field}: must be {want}, got {type(given).__name__} {given!r}"
    return f"{field}: {error.get('msg', 'invalid value')}"


def _clean(error: dict[str, Any]) -> dict[str, Any]:
    """The error as JSON-safe data, with the offending input shortened."""
    out = {k: v for k, v in error.items() if k in ("type", "loc", "msg")}
    out["field"] = field_path(error.get("loc", ()))
    given = error.get("input")
    if isinstance(given, float) and not math.isfinite(given):
        out["input"] = str(given)  # JSON has no NaN/Infinity
    elif isinstance(given, int | float | str | bool) or given is None:
        out["input"] = given
    return out


def install(app: FastAPI, metrics: ApiMetrics, schema: FeatureSchema, max_batch_rows: int,
            max_body_bytes: int) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        reasons = {_reason(e) for e in errors}
        for reason in reasons:
            metrics.rejected.labels(reason).inc()
        messages = [explain(e, schema, max_batch_rows) for e in errors]
        status = 413 if reasons == {"batch_too_large"} else 422
        summary = "; ".join(messages[:5]) + (f" (+{len(messages) - 5} more)" if len(messages) > 5 else "")
        return json_response(
            {"message": summary, "detail": [_clean(e) for e in errors[:100]]}, status_code=status)

    @app.exception_handler(InputError)
    async def input_error(_: Request, exc: InputError) -> Response:
        metrics.rejected.labels(exc.reason).inc()
        return json_response(
            {"message": exc.message,
             "detail": [{"type": exc.reason, "field": exc.field, "msg": exc.message}],
             **exc.extra},
            status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 413:
            metrics.rejected.labels("body_too_large").inc()
            message = too_large_message(max_body_bytes)
        elif exc.status_code == 401:
            metrics.rejected.labels("unauthorized").inc()
            message = str(exc.detail)
        else:
            message = str(exc.detail)
        return json_response({"message": message, "detail": exc.detail},
                              status_code=exc.status_code, headers=exc.headers)
