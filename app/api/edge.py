"""The one middleware every request passes: body size limit and RED metrics.

One pure-ASGI layer rather than two: each layer costs a few percent of throughput on
single-reading requests, which is the budget this API is measured against.

The size limit answers in JSON naming the limit. FastAPI's own `max_body_size` answers a
declared oversize body with Starlette's plain-text "Content Too Large", overriding any
exception handler.
"""

from __future__ import annotations

import time

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


class EdgeMiddleware:
    """413 for oversize bodies (declared or streamed); count, time and track every request."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, max_body_bytes: int,
                 paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.metrics = metrics
        self.max_bytes = max_body_bytes
        # Requests answered before routing (e.g. 413) are labelled by path when it is a
        # known route; anything else is "unmatched", so labels stay a bounded set.
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            declared = self._content_length(scope)
            if declared is not None and declared > self.max_bytes:
                await self._reject(scope, receive, send_wrapper)
            elif declared is None:  # chunked: count while it streams in
                await self.app(scope, self._limited(receive), send_wrapper)
            else:  # the server never delivers more than the declared length
                await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_flight.dec()
            route = scope.get("route")
            path = getattr(route, "path", None) or (
                scope["path"] if scope["path"] in self.paths else "unmatched")
            self.metrics.observe_request(path, scope["method"], status, time.perf_counter() - start)

    @staticmethod
    def _content_length(scope: Scope) -> int | None:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return int(value) if value.isdigit() else None
        return None

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.metrics.rejected_by["body_too_large"].inc()
        message = too_large_message(self.max_bytes)
        response = json_response(
            {"message": message,
             "detail": [{"type": "body_too_large", "field": "body", "msg": message}]},
            status_code=413, headers={"Connection": "close"})
        await response(scope, receive, send)

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)  # handled like any HTTPException: JSON 413
            return message

        return limited_receive
