"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from tcup_server import __version__, db, filemodes, logs, metrics
from tcup_server.api.guard import InputGuard
from tcup_server.api.request_log import RequestLog
from tcup_server.errors import ApiError, from_domain
from tcup_server.keys import load_keys
from tcup_server.services.errors import DomainError
from tcup_server.services.guidelines import GuidelineDirectory
from tcup_server.services.ingest import IngestContext
from tcup_server.services.oidc import OidcClient
from tcup_server.settings import ServerSettings, load_settings
from tcup_server.state import AppState
from tcup_server.storage import open_store

LOG = logging.getLogger(__name__)


def create_app(settings: ServerSettings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the application: API routers, the web pages, RefStack-style error bodies."""
    settings = settings or load_settings()
    filemodes.secure(settings)  # private at rest, on every start, whatever the umask
    engine = engine or db.make_engine(settings.resolved_database_url)
    masked = (settings.metrics_token, settings.artefact_key, settings.oidc_client_secret)
    for secret in (*masked, engine.url.password):
        logs.register_secret(secret)  # masked in every log line, should one ever carry it
    keys = load_keys(settings)
    sessions = db.session_factory(engine)
    store = open_store(settings, keys.artefact_key)
    guidelines = GuidelineDirectory(settings.resolved_guideline_dir)
    state = AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        keys=keys,
        store=store,
        guidelines=guidelines,
        ingest=None,  # type: ignore[arg-type]  # set just below
        metrics=metrics.Metrics(),
        oidc=OidcClient(settings) if settings.oidc_enabled else None,
    )
    state.metrics.observe_sessions(sessions)
    state.metrics.observe_pool(engine)
    state.ingest = IngestContext(
        sessions=sessions,
        store=store,
        guidelines=guidelines,
        receipt_key=keys.receipt_key,
        result_url=state.result_url,
        allow_anonymous=settings.allow_anonymous_upload,
        default_guideline=settings.default_guideline,
        default_target=settings.default_target,
        max_tests=settings.max_tests,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        # a worker stopping (uvicorn's graceful shutdown): its live gauges go with it
        metrics.mark_process_dead()

    app = FastAPI(
        lifespan=lifespan,
        title="tcup-server",
        version=__version__,
        description="RefStack-compatible receiving server for OpenStack interop results.",
    )
    app.state.tcup = state
    app.add_middleware(InputGuard, max_body_bytes=settings.max_body_bytes, metrics=state.metrics)
    app.add_middleware(RequestLog, metrics=state.metrics)  # outermost: sees every answer

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.code)

    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        error = from_domain(exc)
        return JSONResponse(error.body(), status_code=error.code)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            ApiError(exc.status_code, str(exc.detail)).body(),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        title = f"Invalid {where}: {first.get('msg', 'bad value')}" if where else "Bad request"
        return JSONResponse(ApiError(400, title).body(), status_code=400)

    from tcup_server import web
    from tcup_server.api import guidelines as guidelines_api
    from tcup_server.api import meta, ops, profile, results, tcup

    for module in (results, meta, tcup, profile, guidelines_api, ops):
        app.include_router(module.router)
    app.include_router(web.router)
    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` (multi-worker serving): settings from the environment.

    uvicorn has applied :func:`tcup_server.logs.uvicorn_log_config` in this worker already;
    Python's warnings go to the same JSON log.
    """
    logging.captureWarnings(True)
    return create_app()
