"""The FastAPI application: built from settings and the model bundle's feature schema."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# One thread per worker for the model: parallelism comes from workers, and OpenMP's
# thread start-up on every small call costs more than it saves. Set before sklearn loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pyarrow as pa
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from app.api import errors, wire
from app.api.edge import EdgeMiddleware
from app.api.metrics import ApiMetrics
from app.api.routes import health, labels, predict
from app.api.runtime import Runtime, row_getter
from app.log.writer import LogWriter
from app.model.bundle import ModelBundle
from app.serving import MicroBatcher, PredictionService
from app.settings import Settings, get_settings

log = logging.getLogger("ventwatch.api")


def tune_gc() -> None:
    """Collector settings for a long-lived server process (the benchmark floor uses them too).

    Everything loaded at start-up lives as long as the process: frozen out of the
    collector's reach, or each full collection walks the model and libraries (~100 ms
    pauses, the p99 of the whole API). Request garbage is freed by reference counting, so
    young-generation collections can be rarer: 20,000 allocations instead of 700 (the
    floor in BENCHMARKS.md runs with the same settings, so the ratios there exclude it).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


async def _flush_metrics_every_second(metrics: ApiMetrics) -> None:
    # In multi-worker mode a scrape reaches one worker; the others publish on this clock.
    while True:
        await asyncio.sleep(1.0)
        metrics.flush()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the schema is read now (routes derive from it), the model at start-up."""
    settings = settings or get_settings()
    light = ModelBundle.load(settings.model_dir, with_model=False)
    schema = light.schema
    models = wire.build(schema, settings.max_batch_rows, settings.max_labels)
    metrics = ApiMetrics(CollectorRegistry(), schema)
    runtime = Runtime(settings=settings, schema=schema, schema_version=light.version, wire=models,
                      metrics=metrics, row_of=row_getter(schema.names))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Arrow's default allocator (mimalloc) keeps what log publishing freed: ~40 MB
        # more resident memory under batch load than the system allocator, for no gain.
        pa.set_memory_pool(pa.system_memory_pool())
        bundle = ModelBundle.load(settings.model_dir)
        if bundle.version != light.version:
            raise RuntimeError(f"{settings.model_dir} changed while starting; restart the API")
        writer = None
        if settings.log_enabled:
            writer = LogWriter(
                settings.log_dir, schema, flush_seconds=settings.log_flush_seconds,
                fsync_seconds=settings.log_fsync_seconds, max_rows=settings.log_segment_max_rows,
                on_error=lambda kind, _exc: metrics.log_errors_by[kind].inc())
            recovered = writer.recover()
            if any(recovered.values()):
                log.warning("recovered staged records of a previous run: %s", recovered)
            writer.start()
        runtime.bundle = bundle
        runtime.writer = writer
        runtime.service = PredictionService(bundle, writer, metrics)
        runtime.batcher = MicroBatcher(runtime.service)
        metrics.model_info.labels(bundle.card.name, bundle.version, schema.dataset).set(1)
        tune_gc()
        log.info("serving %s %s from %s; log %s", bundle.card.name, bundle.version,
                 settings.model_dir, settings.log_dir if writer else "off")
        flusher = asyncio.create_task(_flush_metrics_every_second(metrics))
        try:
            yield
        finally:
            flusher.cancel()
            if writer is not None:
                writer.close()

    app = FastAPI(
        title="ventwatch API",
        version=light.version,
        summary="Ventilation decisions from indoor air-quality readings, every one logged",
        description=(f"Model {light.card.name} {light.version}, trained on {schema.dataset}. "
                     f"Features: {', '.join(f.label for f in schema.features)}."),
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    errors.install(app, metrics, schema, settings.max_batch_rows, settings.max_body_bytes)
    app.include_router(predict.build(models, settings))
    app.include_router(labels.build(models, settings))
    app.include_router(health.router)
    app.add_middleware(EdgeMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes,
                       paths=frozenset(getattr(r, "path", "") for r in app.routes))
    return app
