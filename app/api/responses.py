"""JSON responses serialised with orjson (fast; NaN becomes null instead of an error)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Response


def json_response(content: Any, status_code: int = 200,
                  headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status_code,
                    media_type="application/json", headers=headers)


def unavailable(message: str) -> Response:
    """503: nothing was stored, try again shortly."""
    return json_response({"message": message, "detail": message}, status_code=503,
                         headers={"Retry-After": "1"})
