"""422 bodies that name the field: pydantic reports a whole-spec check (ExperimentSpec's
model validator, e.g. "phase1.stages.0.lr evaluates to -0.1") at the spec itself; when the
message starts with the dotted path of a spec field, that path is appended to `loc`."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.services.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    LimitExceeded,
    NotFound,
    ServiceError,
)
from trainer.spec import ExperimentSpec

log = logging.getLogger(__name__)

_PATH = re.compile(r"^([A-Za-z_]\w*(?:\.\w+)+)\b")
_PREFIXES = ("Value error, ", "Assertion failed, ")


def _spec_path(message: str) -> list[str | int] | None:
    match = _PATH.match(message)
    if not match:
        return None
    parts = match.group(1).split(".")
    if parts[0] not in ExperimentSpec.model_fields:
        return None
    return [int(part) if part.isdigit() else part for part in parts]


def refine(error: dict[str, Any]) -> dict[str, Any]:
    loc = list(error.get("loc", ()))
    msg = str(error.get("msg", ""))
    for prefix in _PREFIXES:
        msg = msg.removeprefix(prefix)
    if len(loc) >= 2 and loc[-1] == "spec" and loc[0] == "body":
        path = _spec_path(msg)
        if path:
            loc += path
    return {"loc": loc, "msg": msg, "type": error.get("type", "value_error")}


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [refine(error) for error in exc.errors()]
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": jsonable_encoder(detail)},
    )


async def data_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The database refused a value the schema let through (a NUL character in a text on
    PostgreSQL, a number out of the column's range): the client's input, so 422, not 500."""
    reason = str(getattr(exc, "orig", exc)).splitlines()[0][:300]
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={
            "detail": [
                {
                    "loc": ["request"],
                    "type": "value_error",
                    "msg": f"the database refused a value: {reason}",
                }
            ]
        },
    )


# The one mapping from the service layer's domain errors (api.services.errors) to HTTP.
SERVICE_STATUS: dict[type[ServiceError], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Forbidden: status.HTTP_403_FORBIDDEN,
    Conflict: status.HTTP_409_CONFLICT,
    LimitExceeded: status.HTTP_429_TOO_MANY_REQUESTS,
    BadRequest: status.HTTP_400_BAD_REQUEST,
    Invalid: status.HTTP_422_UNPROCESSABLE_CONTENT,
}


async def service_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    code = next(
        (SERVICE_STATUS[kind] for kind in type(exc).__mro__ if kind in SERVICE_STATUS),
        status.HTTP_400_BAD_REQUEST,
    )
    if isinstance(exc, Invalid):
        detail: Any = [
            {"loc": list(loc), "msg": message, "type": "value_error"} for loc, message in exc.issues
        ]
    else:
        detail = str(exc)
    return JSONResponse(status_code=code, content={"detail": detail})


# A database outage (server stopped or restarting, connection refused or dropped, pool exhausted,
# SQLite's file locked or its disk full) is not the client's fault and usually passes: 503 with
# Retry-After, so clients and proxies retry instead of reporting a bug. SQLAlchemy wraps every
# driver's "cannot talk to the server" errors in these classes (PEP 249's OperationalError and
# InterfaceError) and raises TimeoutError when the pool has no connection to give.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, SqlTimeoutError)


async def database_unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    retry_after = request.app.state.settings.unavailable_retry_after_s
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, reason)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(retry_after)},
        content={"detail": f"the database is unavailable ({type(exc).__name__}); retry later"},
    )


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's answer, with a 405's `Allow` listing every method the path takes: Starlette
    names only the methods of the first route whose path matched (GET for
    /experiments/{id}, which also takes DELETE). A method is allowed when some route matches
    the request's path with that method fully (routers nest, so ask the top-level routes)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        allowed = [
            method
            for method in _METHODS
            if any(
                route.matches({**request.scope, "method": method})[0] is Match.FULL
                for route in request.app.router.routes
            )
        ]
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
    return await http_exception_handler(request, exc)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
