"""Request body size limit answering in JSON.

FastAPI's own `max_body_size` answers a declared oversize body with Starlette's plain
text "Content Too Large", overriding any exception handler; clients of this API expect
the JSON error shape that names the limit, so the check lives here.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.metrics import ApiMetrics
from app.api.responses import json_response


def too_large_message(limit: int) -> str:
    return (f"body: larger than the {limit}-byte limit (VENTWATCH_MAX_BODY_BYTES); "
            "send fewer readings per request")


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


class BodyLimitMiddleware:
    """413 before reading a body whose Content-Length is too big, or once streaming exceeds it."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: ApiMetrics) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    self.metrics.rejected.labels("body_too_large").inc()
                    message = too_large_message(self.max_bytes)
                    response = json_response(
                        {"message": message,
                         "detail": [{"type": "body_too_large", "field": "body", "msg": message}]},
                        status_code=413, headers={"Connection": "close"})
                    await response(scope, receive, send)
                    return
                break
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)
