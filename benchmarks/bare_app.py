"""The HTTP + JSON floor: /predict's request model and a fixed answer of the same size.

Same FastAPI, same route class (orjson parsing), same request validation (generated
from the bundle's schema), same orjson response, same garbage-collector settings, served
by the same uvicorn settings;
no model, no log, no metrics. (No `from __future__ import annotations`: FastAPI must
see the generated request class in the signature.)
"""


from fastapi import FastAPI, Response

from app.api.main import tune_gc
from app.api.responses import json_response
from app.api.routing import OrjsonRoute
from app.api.wire import build
from app.model.bundle import ModelBundle
from app.settings import get_settings

ANSWER = {
    "prediction_id": "019ac008-e67b-79d5-8ec5-2636f07e4fbd",
    "predicted_class": 1,
    "probability": 0.9434720850723168,
    "action": "activate",
    "model_version": "synthetic-0123456789",
}


def create_app() -> FastAPI:
    settings = get_settings()
    schema = ModelBundle.load(settings.model_dir, with_model=False).schema
    wire = build(schema, settings.max_batch_rows, settings.max_labels)
    app = FastAPI()
    app.router.route_class = OrjsonRoute
    reading_model = wire.reading

    async def predict(reading: reading_model) -> Response:  # type: ignore[valid-type]
        return json_response(ANSWER)

    app.post("/predict")(predict)
    tune_gc()  # the same collector settings as the API's lifespan
    return app
