"""Dependencies shared by the routes, as `Annotated` aliases."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.runtime import Runtime
from app.settings import Settings


async def get_runtime(request: Request) -> Runtime:
    # async: a sync dependency would be sent to the thread pool on every request.
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

_bearer = HTTPBearer(auto_error=False, description="VENTWATCH_API_TOKEN, when it is set")


def token_dependencies(settings: Settings, scope: str) -> list[Any]:
    """The bearer-token check for a router, or nothing when no token covers `scope`.

    Decided when the app is built, so unprotected routes pay nothing per request.
    """
    token = settings.api_token
    if token is None or (settings.api_token_scope == "labels" and scope != "labels"):
        return []
    secret = token.get_secret_value().encode()

    async def check(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                           Depends(_bearer)]) -> None:
        given = credentials.credentials if credentials else ""
        if not secrets.compare_digest(given.encode(), secret):
            raise HTTPException(
                401, "Authorization: a valid bearer token is required (VENTWATCH_API_TOKEN)",
                headers={"WWW-Authenticate": "Bearer"})

    return [Depends(check)]
