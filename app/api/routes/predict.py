"""POST /predict and /predict/batch.

No `from __future__ import annotations` here: the request models are built at run time
from the feature schema, and FastAPI must see the real classes in the signatures.

These two routes are the hot path, so they take the `Request` instead of dependencies
(each FastAPI dependency costs ~10 % of throughput at this request size, see
BENCHMARKS.md) and read the optional X-Scenario header themselves.
"""

import time
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response

from app.api.deps import token_dependencies
from app.api.responses import json_response, unavailable
from app.api.routing import OrjsonRoute
from app.api.runtime import Runtime
from app.api.wire import SCENARIO_PATTERN, BatchResponse, Prediction, WireModels
from app.serving import LogUnavailable
from app.settings import Settings

ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "Body or batch larger than the configured limit"},
    422: {"description": "A field is missing, of the wrong type, not finite or out of range"},
    503: {"description": "The prediction could not be logged; nothing was acknowledged"},
}
SCENARIO_HEADER: dict[str, Any] = {
    "parameters": [{
        "name": "X-Scenario", "in": "header", "required": False,
        "description": "Scenario tag for every reading of the request (a field wins over it)",
        "schema": {"type": "string", "pattern": SCENARIO_PATTERN},
    }],
}


def build(wire: WireModels, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["predict"], dependencies=token_dependencies(settings, "predict"),
                       route_class=OrjsonRoute)
    Reading = wire.reading
    Batch = wire.batch

    @router.post("/predict", response_model=Prediction, responses=ERRORS,
                 openapi_extra=SCENARIO_HEADER,
                 summary="Decide for one reading whether ventilation is needed")
    async def predict(reading: Reading, request: Request) -> Response:  # type: ignore[valid-type]
        started = time.perf_counter()
        received_us = time.time_ns() // 1000
        runtime: Runtime = request.app.state.runtime
        data: dict[str, Any] = reading  # the generated TypedDict
        measured_us = runtime.measured_us(data.get("measured_at"), received_us, "measured_at")
        scenario = data.get("scenario") or runtime.header_scenario(request)
        assert runtime.batcher is not None
        try:
            pid, cls, proba = await runtime.batcher.submit(
                runtime.row_of(data), measured_us, received_us, scenario, started)
        except LogUnavailable as exc:
            return unavailable(str(exc))
        return json_response({
            "prediction_id": pid,
            "predicted_class": cls,
            "probability": proba,
            "action": "activate" if cls == runtime.schema.positive_class else "idle",
            "model_version": runtime.schema_version,
        })

    @router.post("/predict/batch", response_model=BatchResponse, responses=ERRORS,
                 openapi_extra=SCENARIO_HEADER,
                 summary="Score many readings in one call (all or nothing)")
    async def predict_batch(body: Batch, request: Request) -> Response:  # type: ignore[valid-type]
        started = time.perf_counter()
        received_us = time.time_ns() // 1000
        runtime: Runtime = request.app.state.runtime
        request_body: Any = body
        rows: list[dict[str, Any]] = request_body.readings
        stamps = [r.get("measured_at") for r in rows]
        if any(stamps):
            measured = np.fromiter(
                (runtime.measured_us(t, received_us, f"readings[{i}].measured_at")
                 for i, t in enumerate(stamps)), np.int64, len(rows))
        else:
            measured = np.full(len(rows), received_us, dtype=np.int64)
        x = np.array(list(map(runtime.row_of, rows)), dtype=np.float64)
        default = request_body.scenario or runtime.header_scenario(request)
        scenarios = [r.get("scenario") or default for r in rows]
        scenario: list[str | None] | str | None = (
            default if all(s == default for s in scenarios) else scenarios)
        assert runtime.service is not None
        try:
            # On the event loop, like the micro-batches: handing 1,000-row batches to a worker
            # thread lost batch throughput to GIL hand-offs when it was tried.
            scored = runtime.service.score(x, measured, np.full(len(rows), received_us),
                                           scenario, started)
        except LogUnavailable as exc:
            return unavailable(str(exc))
        positive = runtime.schema.positive_class
        return json_response({
            "model_version": runtime.schema_version,
            "predictions": [
                {"prediction_id": pid, "predicted_class": c, "probability": p,
                 "action": "activate" if c == positive else "idle"}
                for pid, c, p in zip(scored.ids, scored.predicted.tolist(),
                                     scored.proba.tolist(), strict=True)
            ],
        })

    return router
