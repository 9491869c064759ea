"""GET /health, /ready, /model and /metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from app.api.deps import RuntimeDep
from app.api.metrics import MULTIPROC_ENV
from app.api.responses import json_response
from app.log.tables import staging_dir

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: model loaded and prediction log writable",
            responses={503: {"description": "Not ready; `checks` says what is missing"}})
async def ready(runtime: RuntimeDep) -> Response:
    checks = {"model_loaded": runtime.service is not None}
    if runtime.settings.log_enabled:
        directory = staging_dir(runtime.settings.log_dir, "predictions")
        checks["log_writable"] = directory.is_dir() and os.access(directory, os.W_OK)
    ok = all(checks.values())
    return json_response({"status": "ready" if ok else "not ready", "checks": checks,
                          "model_version": runtime.schema_version},
                         status_code=200 if ok else 503)


@router.get("/model", summary="Feature schema, version and model card")
async def model(runtime: RuntimeDep) -> Response:
    card = runtime.bundle.card if runtime.bundle else None
    return json_response({
        "version": runtime.schema_version,
        "schema": runtime.schema.model_dump(mode="json"),
        "card": card.model_dump(mode="json") if card else None,
    })


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(runtime: RuntimeDep) -> Response:
    # On the event loop, where request metrics are buffered: flushing there needs no lock.
    runtime.metrics.flush()
    if os.environ.get(MULTIPROC_ENV):
        # Several workers: merge every worker's shard, as prometheus_client documents.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = runtime.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
