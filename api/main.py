"""The FastAPI app: wiring only. `uvicorn api.main:app` (or `create_app(settings, engine=...)`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Engine

from api.broker import make_broker
from api.config import ApiSettings
from api.errors import validation_error_handler
from api.metrics import make_registry
from api.middleware import BodySizeLimit
from api.routes import experiments, health, metrics
from db.config import DbSettings
from db.session import make_engine, make_sessionmaker


def create_app(settings: ApiSettings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The app for `settings` (default: read from the environment). The database is
    `engine` or `DbSettings()`'s; the schema is migrated separately (`alembic upgrade head`)."""
    settings = settings or ApiSettings()
    owns_engine = engine is None
    engine = engine or make_engine(DbSettings())
    broker = make_broker(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        broker.close()
        if owns_engine:
            engine.dispose()

    app = FastAPI(
        title="silab",
        summary="Queue, run and compare SGD experiments on single-index models.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.broker = broker
    app.state.metrics_registry = make_registry(app.state.sessionmaker, settings.metrics_window_s)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.include_router(experiments.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn api.main:app`: built on first access, so importing this module reads nothing.
    if name == "app":
        app = create_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)
