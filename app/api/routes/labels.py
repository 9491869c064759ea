"""POST /labels: ground truth for logged predictions, possibly hours late."""


import time
from collections import Counter
from typing import Any

from fastapi import APIRouter, Response

from app.api.deps import RuntimeDep, token_dependencies
from app.api.errors import InputError
from app.api.responses import json_response, unavailable
from app.api.routing import OrjsonRoute
from app.api.wire import LabelsResponse, WireModels
from app.locks import exclusive
from app.log import ids as id_codec
from app.log.reader import lookup
from app.log.tables import arrow_schema
from app.schema import LABEL, MEASURED_AT, PREDICTION_ID, RECEIVED_AT
from app.settings import Settings

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "VENTWATCH_API_TOKEN is set and the bearer token is missing or wrong"},
    404: {"description": "Some prediction_id is not in the prediction log; nothing was stored"},
    409: {"description": "Some prediction already has a label; nothing was stored"},
    422: {"description": "Malformed id, repeated id in the request, or a class the model lacks"},
    503: {"description": "The label could not be logged (or the log is off); nothing was stored"},
}
# Under the log directory: held while a label request checks and appends.
LABELS_LOCK = ".labels.lock"
# Ids listed in an error message; the full lists are in the response's `prediction_ids`.
SHOWN = 5


def _listing(ids: list[str]) -> str:
    more = f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else ""
    return ", ".join(ids[:SHOWN]) + more


def build(wire: WireModels, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["labels"], dependencies=token_dependencies(settings, "labels"),
                       route_class=OrjsonRoute)
    Labels = wire.labels

    @router.post("/labels", response_model=LabelsResponse, responses=ERRORS,
                 summary="Submit ground truth for predictions (all or nothing)")
    def submit_labels(body: Labels, runtime: RuntimeDep) -> Response:  # type: ignore[valid-type]
        # A plain `def`: lookups read files, so FastAPI runs this on its thread pool.
        request_body: Any = body
        items = request_body.labels
        pids = [item.prediction_id for item in items]
        for i, pid in enumerate(pids):
            if not id_codec.is_valid(pid):
                raise InputError(422, "invalid", f"labels[{i}].prediction_id",
                                 f"labels[{i}].prediction_id: {pid!r} is not a prediction id "
                                 "returned by /predict")
        repeated = [pid for pid, n in Counter(pids).items() if n > 1]
        if repeated:
            raise InputError(422, "duplicate", "labels",
                             f"labels: prediction_id repeated within the request: {_listing(repeated)}",
                             {"prediction_ids": repeated})
        log_dir = runtime.settings.log_dir
        if runtime.writer is None:
            return unavailable("labels need the prediction log, which is off "
                               "(VENTWATCH_LOG_ENABLED=false)")
        # One label request at a time across threads, workers and replicas sharing the log:
        # the check-then-append must not interleave, or one prediction gets two labels.
        with exclusive(log_dir / LABELS_LOCK):
            known = lookup(log_dir, "predictions", pids, arrow_schema("predictions", runtime.schema))
            unknown = [pid for pid in pids if pid not in known]
            if unknown:
                raise InputError(404, "unknown_id", "labels[].prediction_id",
                                 f"prediction_id not found in the prediction log: {_listing(unknown)}",
                                 {"prediction_ids": unknown})
            labelled = lookup(log_dir, "labels", pids, arrow_schema("labels", runtime.schema))
            if labelled:
                already = [pid for pid in pids if pid in labelled]
                raise InputError(409, "duplicate", "labels[].prediction_id",
                                 f"these predictions already have a label: {_listing(already)}",
                                 {"prediction_ids": already})
            try:
                runtime.writer.append("labels", {
                    PREDICTION_ID: pids,
                    LABEL: [item.label for item in items],
                    RECEIVED_AT: time.time_ns() // 1000,
                    MEASURED_AT: [known[pid] for pid in pids],
                }, len(pids))
            except OSError as exc:
                runtime.metrics.log_errors_by["labels"].inc()
                return unavailable(f"label log unavailable, nothing was stored: {exc}")
        runtime.metrics.log_rows_by["labels"].inc(len(pids))
        for label, n in Counter(item.label for item in items).items():
            runtime.metrics.labels.labels(str(label)).inc(n)
        return json_response({"accepted": len(pids)})

    return router
