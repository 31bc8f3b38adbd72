"""/experiments/{id}/events: an experiment's status and new trace points as Server-Sent Events
(sse-starlette), for the dashboard's live view.

Events: `status` (id, status, samples_done, samples_total, updated_at, error) whenever the row
changed, `points` (a list of {seed, phase, step, samples, values}) with every point not sent yet,
and `end` once the experiment is finished (then the stream closes). The database is read every
POLL_S seconds in the thread pool, each time in a fresh short session, so a stream never holds a
transaction open; a client that reconnects sends `after` (the last step it has) to skip old
points.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ExperimentDep
from api.query import TraceFilter, comma_separated
from api.responses import NOT_FOUND
from api.schemas import TRACE_METRICS
from api.services import traces
from db.models import TERMINAL, Experiment

router = APIRouter(prefix="/experiments", tags=["experiments"])
POLL_S = 1.0  # how often a stream looks for news: the dashboard's refresh, not a tunable
STATUS_FIELDS = ("id", "status", "samples_done", "samples_total", "updated_at", "error")


def _status(experiment: Experiment) -> dict[str, Any]:
    out = {name: getattr(experiment, name) for name in STATUS_FIELDS}
    out["updated_at"] = experiment.updated_at.isoformat()
    return out


def _new_points(
    session: Session,
    experiment_id: int,
    metrics: list[str],
    sent: dict[tuple[int, str], int],
    after: int,
) -> list[dict[str, Any]]:
    """Points after the last step sent of each (seed, phase) (at first: after `after`); updates
    `sent`."""
    # From the lowest last step (not one past it): Phase II's point sits at Phase I's last step.
    floor = min(sent.values()) if sent else after + 1
    query = traces.TraceQuery(experiment_id, metrics, step_min=max(floor, 0))
    out = []
    for series in query.series(session):
        last = sent.get((series.seed, series.phase), after)
        steps = series.columns["step"]
        for i in range(len(steps)):
            if int(steps[i]) <= last:
                continue
            values = {}
            for m in metrics:
                value = float(series.columns[m][i])
                values[m] = None if math.isnan(value) else value
            out.append(
                {
                    "seed": series.seed,
                    "phase": series.phase,
                    "step": int(steps[i]),
                    "samples": int(series.columns["samples"][i]),
                    "values": values,
                }
            )
        if len(steps):
            sent[(series.seed, series.phase)] = max(last, int(steps[-1]))
    return out


@router.get(
    "/{experiment_id}/events",
    summary="Live status and new trace points (Server-Sent Events)",
    description="`status`, `points` and, when the experiment has finished, `end` events; see "
    "api/routes/stream.py. `metrics`: comma-separated (default all); `after`: skip points at or "
    "before this step (a reconnecting client's last step).",
    responses={**NOT_FOUND, 200: {"content": {"text/event-stream": {}}}},
)
async def events(
    experiment: ExperimentDep,
    request: Request,
    metrics: Annotated[
        str | None, Query(max_length=500, pattern=comma_separated(TRACE_METRICS))
    ] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> EventSourceResponse:
    chosen = traces.query_for(experiment.id, TraceFilter(metrics=metrics)).metrics
    experiment_id = experiment.id
    sessionmaker = request.app.state.sessionmaker
    start = -1 if after is None else after

    def look(sent: dict[tuple[int, str], int]) -> tuple[dict[str, Any] | None, list[Any]]:
        with sessionmaker() as session:
            row = session.get(Experiment, experiment_id)
            if row is None:
                return None, []
            return _status(row), _new_points(session, experiment_id, chosen, sent, start)

    async def stream() -> AsyncIterator[dict[str, str]]:
        sent: dict[tuple[int, str], int] = {}
        last_status: dict[str, Any] | None = None
        while not await request.is_disconnected():
            status, points = await run_in_threadpool(look, sent)
            if status is None:
                yield {"event": "end", "data": '{"deleted": true}'}
                return
            if status != last_status:
                yield {"event": "status", "data": orjson.dumps(status).decode()}
                last_status = status
            if points:
                yield {"event": "points", "data": orjson.dumps(points).decode()}
            if status["status"] in TERMINAL:
                yield {"event": "end", "data": orjson.dumps(status).decode()}
                return
            await asyncio.sleep(POLL_S)

    return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-cache"})
