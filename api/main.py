"""The FastAPI app: wiring only. Served by `python -m api` (uvicorn, factory=True); tests call
`create_app(settings, engine=...)`. No module-level app: importing this module reads nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import bootstrap_admin, install_openapi_security
from api.broker import make_broker
from api.config import ApiSettings
from api.deps import authenticate
from api.dispatch import Dispatcher
from api.docs import install_offline_docs
from api.errors import (
    DATABASE_UNAVAILABLE,
    data_error_handler,
    database_unavailable_handler,
    http_error_handler,
    service_error_handler,
    validation_error_handler,
)
from api.metrics import make_registry
from api.middleware import BodySizeLimit
from api.ratelimit import make_limiter
from api.routes import (
    accounts,
    audit,
    batch,
    experiments,
    health,
    meta,
    metrics,
    plots,
    priority,
    queue,
    science,
    stream,
    sweep_plots,
    sweep_stats,
    sweeps,
    traces,
)
from api.schema_limits import install_schema_limits
from api.services.errors import ServiceError
from db.config import DbSettings
from db.session import make_engine, make_sessionmaker

STATIC = Path(__file__).resolve().parent / "static"
# Every route module, in the order of the OpenAPI document.
ROUTES = (
    experiments,
    batch,
    queue,
    priority,
    traces,
    health,
    meta,
    metrics,
    accounts,
    audit,
    plots,
    sweeps,
    sweep_stats,
    sweep_plots,
    science,
    stream,
)


def create_app(settings: ApiSettings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The app for `settings` (default: read from the environment). The database is
    `engine` or `DbSettings()`'s; the schema is migrated separately (`alembic upgrade head`)."""
    settings = settings or ApiSettings()
    owns_engine = engine is None
    engine = engine or make_engine(DbSettings())
    broker = make_broker(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.bootstrap_admin:
            bootstrap_admin(app.state.sessionmaker, settings.data_dir)
        yield
        broker.close()
        app.state.rate_limiter.close()
        if owns_engine:
            engine.dispose()

    app = FastAPI(
        title="silab",
        summary="Queue, run and compare SGD experiments on single-index models.",
        version="0.1.0",
        lifespan=lifespan,
        # Every route needs an API key but the open ones (api.auth.OPEN_PATHS).
        dependencies=[Depends(authenticate)],
        docs_url=None,  # api.docs serves them from a package, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.broker = broker
    app.state.dispatch = Dispatcher(app.state.sessionmaker, broker, settings)
    app.state.rate_limiter = make_limiter(settings)
    app.state.metrics_registry = make_registry(app.state.sessionmaker, settings.metrics_window_s)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_request_bytes,
        per_path={batch.BATCH_PATH: settings.max_batch_bytes},
    )
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(DataError, data_error_handler)
    app.add_exception_handler(ServiceError, service_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, database_unavailable_handler)
    for module in ROUTES:
        app.include_router(module.router)
    install_offline_docs(app)
    # The dashboard (api/static): static files that use only the public API.
    app.mount("/ui", StaticFiles(directory=STATIC, html=True), name="ui")
    app.add_api_route("/", lambda: RedirectResponse("/ui/"), include_in_schema=False)
    install_openapi_security(app)
    install_schema_limits(app, settings)
    return app
