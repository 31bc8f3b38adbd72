"""/health (liveness) and /ready (database and broker answer)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import BrokerDep
from api.schemas import ReadinessPublic

router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 2.0


@router.get("/health", response_model=ReadinessPublic, summary="Liveness (touches nothing)")
def health() -> ReadinessPublic:
    return ReadinessPublic(status="ok", checks={})


def _database(request: Request) -> str:
    try:
        with request.app.state.sessionmaker() as session:
            session.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001
        return f"{type(error).__name__}: {error}".splitlines()[0][:300]
    return "ok"


@router.get(
    "/ready",
    response_model=ReadinessPublic,
    summary="Readiness: the database answers SELECT 1 and the broker accepts a connection",
    responses={
        503: {
            "model": ReadinessPublic,
            "description": "a dependency failed; `checks` says which and why",
        }
    },
)
def ready(request: Request, broker: BrokerDep) -> JSONResponse:
    # Both checks at once, neither waited on for longer than the timeout.
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="silab-ready")
    try:
        database = pool.submit(_database, request)
        broker_check = pool.submit(broker.ping)
        try:
            db_state = database.result(timeout=READY_TIMEOUT_S)
        except TimeoutError:
            db_state = f"no answer within {READY_TIMEOUT_S:g} s"
        problem = broker_check.result()
    finally:
        pool.shutdown(wait=False)
    checks = {"database": db_state, "broker": problem or "ok"}
    ok = all(value == "ok" for value in checks.values())
    body = ReadinessPublic(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(
        body.model_dump(),
        status_code=status.HTTP_200_OK if ok else status.HTTP_503_SERVICE_UNAVAILABLE,
    )
