"""Reading the API's 4xx bodies: why readings were refused, and which ones.

The API answers bad input with `{"message": ..., "detail": [{"type", "field", "msg", ...}]}`;
`field` is e.g. `readings[3].co2_ppm`. Reasons are counted as '<field>: <rule>' with the
index dropped, so a replay reports e.g. 'co2_ppm: out of range' once per refused reading.
"""

from __future__ import annotations

import re
from typing import Any

_INDEX = re.compile(r"^readings\[(\d+)\]\.?")
_RULES = {
    "missing": "missing",
    "extra_forbidden": "unknown field",
    "json_invalid": "malformed JSON",
    "finite_number": "not finite",
    "greater_than_equal": "out of range",
    "less_than_equal": "out of range",
    "too_long": "batch too large",
    "body_too_large": "body too large",
    "unknown_id": "unknown prediction id",
    "duplicate": "already labelled",
}


def _rule(kind: str) -> str:
    if kind in _RULES:
        return _RULES[kind]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "wrong type"
    return kind or "invalid"


def _details(body: Any) -> list[dict[str, Any]]:
    detail = body.get("detail") if isinstance(body, dict) else None
    return [d for d in detail if isinstance(d, dict)] if isinstance(detail, list) else []


def reason_of(detail: dict[str, Any]) -> str:
    """'co2_ppm: out of range' for one entry of an error body's `detail`."""
    field = _INDEX.sub("", str(detail.get("field", ""))) or "body"
    return f"{field}: {_rule(str(detail.get('type', '')))}"


def rejected_rows(body: Any, status: int) -> tuple[dict[int, tuple[str, str]], str, str]:
    """The readings the API named (row index -> (reason, message)), the request's reason and message.

    An empty mapping means the API did not single out readings: the whole request is refused.
    """
    message = str(body.get("message", "")) if isinstance(body, dict) else str(body)
    rows: dict[int, tuple[str, str]] = {}
    details = _details(body)
    for detail in details:
        match = _INDEX.match(str(detail.get("field", "")))
        if match:
            rows.setdefault(int(match.group(1)), (reason_of(detail), str(detail.get("msg", message))))
    request_reason = reason_of(details[0]) if details else f"HTTP {status}"
    return rows, request_reason, message or f"HTTP {status}"
