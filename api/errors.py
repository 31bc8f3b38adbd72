"""422 bodies that name the field, built from pydantic's structured errors, never its text:

- `loc` is pydantic's, less the union members it names: for a union pydantic puts the member it
  tried into `loc` (a Tag, or `function-after[_one_form(), AxisCreate]`); walking the request
  body's type along `loc` says which parts are unions, and those parts are dropped;
- of a union's members that all failed, only the issues of the member that came closest (the
  deepest issue, then the fewest) are kept: the others only say "this is not that form";
- a whole-spec check (ExperimentSpec's model validator) raises trainer.spec.SpecError, whose
  `loc` is appended to the spec's; the message is the exception's own text (no "Value error, ").
"""

from __future__ import annotations

import logging
import sqlite3
import types
import typing
from collections.abc import Sequence
from typing import Any

from fastapi import Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Tag
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.query import CHOICES
from api.services.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    LimitExceeded,
    NotFound,
    ServiceError,
)

log = logging.getLogger(__name__)

Loc = list[str | int]


def _strip(annotation: Any) -> tuple[Any, str | None]:
    """The type under Annotated[...] wrappers, and the union Tag among their metadata."""
    tag = None
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *metadata = typing.get_args(annotation)
        tag = next((m.tag for m in metadata if isinstance(m, Tag)), tag)
    return annotation, tag


def _members(annotation: Any) -> list[tuple[Any, str | None]] | None:
    """A union's members other than None (with their Tags), or None when it is no union."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    members = [_strip(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
    return members if len(members) > 1 else None


def _child(annotation: Any, part: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field is not None else Any
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset, Sequence) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return Any


def walk(annotation: Any, loc: Sequence[str | int]) -> tuple[Loc, list[tuple[int, str | int]]]:
    """`loc` without union member parts, and where each union was: (index in the path, the
    member's part)."""
    path: Loc = []
    unions: list[tuple[int, str | int]] = []
    for part in loc:
        annotation, _ = _strip(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            present = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(present) == 1:  # X | None: pydantic names no member, the X is validated
                annotation = _strip(present[0])[0]
        members = _members(annotation)
        if members is not None:
            unions.append((len(path), part))
            chosen = [m for m, tag in members if tag == part or getattr(m, "__name__", "") == part]
            annotation = chosen[0] if chosen else Any
            continue
        path.append(part)
        annotation = _child(annotation, part)
    return path, unions


def _closest(issues: list[tuple[dict[str, Any], Loc, list[tuple[int, str | int]]]]) -> list[int]:
    """Indices of the issues to keep: at each union, those of its closest member."""
    keep = set(range(len(issues)))
    for at in sorted({(tuple(path[:i]), i) for _, path, unions in issues for i, _ in unions}):
        prefix, depth = at
        members: dict[str | int, list[int]] = {}
        for index, (_, path, unions) in enumerate(issues):
            if index in keep and tuple(path[:depth]) == prefix:
                for i, part in unions:
                    if i == depth:
                        members.setdefault(part, []).append(index)
        if len(members) < 2:
            continue
        best = min(
            members.values(),
            key=lambda ids: (-max(len(issues[i][1]) for i in ids), len(ids)),
        )
        keep -= {i for ids in members.values() if ids is not best for i in ids}
    return sorted(keep)


def _body_annotation(request: Request) -> Any:
    route = request.scope.get("route")
    body = getattr(route, "body_field", None)
    return getattr(getattr(body, "field_info", None), "annotation", None) or Any


def refine(errors: Sequence[dict[str, Any]], body: Any = Any) -> list[dict[str, Any]]:
    """FastAPI's validation errors as 422 issues: {loc, msg, type}, union members left out."""
    issues = []
    for error in errors:
        loc = list(error.get("loc", ()))
        unions: list[tuple[int, str | int]] = []
        if loc[:1] == ["body"]:
            rest, unions = walk(body, loc[1:])
            loc = ["body", *rest]
        cause = (error.get("ctx") or {}).get("error")
        extra = getattr(cause, "loc", None)
        if isinstance(extra, tuple):
            loc += list(extra)
        message = str(cause) if isinstance(cause, Exception) else str(error.get("msg", ""))
        kind = getattr(cause, "kind", None) or error.get("type", "value_error")
        if kind == "string_pattern_mismatch":
            message = _choices(error) or message
        issue = {"loc": loc, "msg": message, "type": str(kind)}
        issues.append((issue, loc, [(i + 1, part) for i, part in unions]))
    kept = [issues[i][0] for i in _closest(issues)]
    return list({repr(issue): issue for issue in kept}.values())


def _choices(error: dict[str, Any]) -> str | None:
    """'bogus' is not one of a, b, c: a choice list's pattern (api.query.one_of) said in words,
    not as a regex."""
    choice = CHOICES.get(str((error.get("ctx") or {}).get("pattern", "")))
    if choice is None:
        return None
    text = f"{error.get('input')!r} is not one of {', '.join(choice.names)}"
    return text + " (a leading '-' sorts descending)" if choice.sort else text


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = refine(exc.errors(), _body_annotation(request))
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
            {"loc": list(loc), "msg": message, "type": kind} for loc, message, kind in exc.issues
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


# PostgreSQL's SQLSTATE for "disk full" (psycopg.errors.DiskFull).
DISK_FULL_SQLSTATE = "53100"


def disk_full(exc: BaseException) -> bool:
    """The database refused a write because its disk is full: SQLite's SQLITE_FULL (the
    embedded default's data folder), PostgreSQL's disk_full. From the driver's structured
    error, not its message."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    return getattr(orig, "sqlstate", None) == DISK_FULL_SQLSTATE


async def database_unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    retry_after = request.app.state.settings.unavailable_retry_after_s
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
    if disk_full(exc):
        # 507 Insufficient Storage: the request was fine and nothing of it was stored; what
        # is stored already is intact and still readable. It passes once space is freed.
        log.error("disk full on %s %s: %s", request.method, request.url.path, reason)
        return JSONResponse(
            status_code=status.HTTP_507_INSUFFICIENT_STORAGE,
            headers={"Retry-After": str(retry_after)},
            content={
                "detail": "the database's disk is full: nothing of this request was stored "
                "(what is stored is intact and can be read); retry once the server's operator "
                "has freed space"
            },
        )
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
