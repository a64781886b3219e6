"""The FastAPI application: routers, error handlers, middleware and shared state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_fastapi_instrumentator import Instrumentator

from service.api import (
    cross_validation,
    dashboard,
    datasets,
    jobs,
    models,
    ops,
    predict,
    predictions,
    recall,
    registry,
    registry_predict,
    searches,
    webhooks,
)
from service.api.events import StreamHub
from service.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from service.api.problems import install_problem_handlers
from service.core.blas import limit_blas_threads
from service.core.config import Settings, get_settings
from service.core.db import Database
from service.core.logs import configure_logging
from service.core.memory import return_large_frees_to_os
from service.core.metrics import register_job_collector
from service.core.outbox import SendInBackground, send_deliveries_after_commit
from service.core.queue import Producer
from service.core.scratch import remove_leftovers
from service.core.webhook_metrics import register_webhook_collector
from service.domain.keys import KeyVerifier
from service.domain.online_predict import ModelCache
from service.domain.registry_resolve import Resolver

DESCRIPTION = (
    "Neuronal trains feedforward neural networks on your data sets and serves predictions. "
    "Every /v1 route needs `Authorization: Bearer <api key>`; errors are RFC 9457 problem+json."
)
JSON_BODY_LIMIT = 32 * 1024 * 1024
DOCS_ASSETS = "/docs-assets"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for `settings` (default: read from the environment); its database and
    broker are the ones these settings name, kept on `app.state` for the routes."""
    settings = settings or get_settings()
    configure_logging(settings)
    return_large_frees_to_os()
    remove_leftovers(settings)  # uploads a killed process left half-written
    # Predictions and recalls are small matrix products. With two BLAS threads, one waiting
    # for a core busy elsewhere, a 1000-row predict took 27 ms instead of 0.5 ms on two
    # shared cores; OpenBLAS (pthreads, numpy's own) applies the limit process-wide.
    limit_blas_threads(settings.api_blas_threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.shutting_down = False
        yield
        app.state.shutting_down = True

    # /docs with its scripts and styles served from here, so that it works offline; no ReDoc,
    # whose bundle still fetches its logo from the internet
    app = FastAPIOffline(
        redoc_url=None,
        title="Neuronal",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
        swagger_ui_parameters={"validatorUrl": None},  # no call to an outside validator
        # no OpenTelemetry here: without this FastAPI looks up three providers per request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.database = Database(settings.database_url)
    app.state.producer = Producer(settings)
    # events recorded in a request's transaction (a cancel, a test ping) are sent once committed
    send_deliveries_after_commit(SendInBackground(app.state.producer.enqueue_delivery))
    app.state.shutting_down = False
    app.state.key_verifier = KeyVerifier(settings.api_key_cache_seconds)
    app.state.model_cache = ModelCache(settings.model_cache_size)
    app.state.registry_resolver = Resolver(settings.registry_cache_seconds)
    app.state.stream_hub = StreamHub(settings)
    install_problem_handlers(app)
    for router in (ops.router, datasets.router, jobs.router, models.router, predict.router):
        app.include_router(router)
    app.include_router(predictions.router)
    app.include_router(recall.router)
    app.include_router(searches.router)
    for router in (registry.router, registry_predict.router, registry.jobs_router):
        app.include_router(router)
    app.include_router(webhooks.router)
    app.include_router(dashboard.router)
    app.include_router(cross_validation.router)
    dashboard.mount_static(app)
    Instrumentator(excluded_handlers=["/metrics"]).instrument(app).expose(
        app, include_in_schema=False
    )
    register_job_collector(settings.database_url)
    register_webhook_collector(settings.database_url)
    app.add_middleware(
        BodyLimitMiddleware, upload_limit=settings.max_upload_bytes, body_limit=JSON_BODY_LIMIT
    )
    # inside the request id, before the rest
    app.add_middleware(predict.PredictShortcut, more_paths=registry_predict.SHORTCUT_PATHS)
    app.add_middleware(RequestIdMiddleware)
    return app
