"""/experiments: submit, validate, list, show, trace, cancel, retry."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse

from api import crud
from api.deps import BrokerDep, CurrentUser, ExperimentDep, SessionDep, SettingsDep
from api.schemas import (
    SORT_KEYS,
    TRACE_METRICS,
    ErrorPublic,
    ExperimentCreate,
    ExperimentPublic,
    ExperimentsPublic,
    SpecCreate,
    SpecValidationPublic,
    Status,
    TracePointPublic,
    TracePublic,
    ValidationErrorPublic,
)
from db import queue
from db.models import Experiment, utcnow

router = APIRouter(prefix="/experiments", tags=["experiments"])

NOT_FOUND = {404: {"model": ErrorPublic, "description": "no experiment with this id"}}
INVALID = {422: {"model": ValidationErrorPublic,
                 "description": "invalid input; `loc` names the field, e.g. "
                                '["body","spec","phase1","stages",0,"lr"]'}}
CONFLICT = {409: {"model": ErrorPublic, "description": "not possible in the current status"}}


def _public(experiment: Experiment) -> ExperimentPublic:
    return ExperimentPublic.model_validate(experiment)


def _dispatch(session: SessionDep, broker: BrokerDep, experiment: Experiment) -> None:
    """After the commit: ring the bell. A dead broker leaves dispatched_at NULL for the
    dispatcher."""
    if broker.send_run(experiment.id):
        queue.mark_dispatched([experiment.id], session=session)
        session.commit()
    session.refresh(experiment)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ExperimentPublic,
    summary="Submit an experiment",
    description="Validates the spec (422 naming the field; nothing is stored then), stores the "
    "experiment as queued, commits, then sends it to the broker. A broker that is down does not "
    "fail the submission: `dispatched_at` stays null and the dispatcher sends it later.",
    responses={**INVALID, 201: {"description": "created; `Location` is its URL"}},
)
def submit(body: ExperimentCreate, session: SessionDep, broker: BrokerDep, user: CurrentUser,
           response: Response) -> ExperimentPublic:
    experiment = crud.create_experiment(
        session=session, spec=body.spec, owner=user, name=body.name, tags=body.tags,
        priority=body.priority, max_attempts=body.max_attempts,
    )
    session.commit()
    _dispatch(session, broker, experiment)
    response.headers["Location"] = f"/experiments/{experiment.id}"
    return _public(experiment)


@router.post(
    "/validate",
    response_model=SpecValidationPublic,
    summary="Validate a spec without storing it",
    description="Returns the normalized spec, its hash and derived facts (information exponent, "
    "label power exponents, reuse exponent, resolved width and budgets, memory estimate).",
    responses=INVALID,
)
def validate(body: SpecCreate) -> SpecValidationPublic:
    spec = body.spec
    return SpecValidationPublic(valid=True, spec=spec.model_dump(mode="json"),
                                facts=spec.facts(), spec_hash=spec.spec_hash())


@router.get(
    "",
    response_model=ExperimentsPublic,
    summary="List experiments",
    description="Filters combine with AND (`status` and `tag` may repeat: any status, every tag). "
    "`sort` is a column, '-' prefixed for descending; NULLs come last either way. Pages are "
    "keyset pages: pass `next_cursor` back as `cursor` with the same filters and sort.",
    responses={400: {"model": ErrorPublic, "description": "bad sort or cursor"}, **INVALID},
)
def list_experiments(
    session: SessionDep,
    settings: SettingsDep,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[list[str] | None, Query()] = None,
    target: Annotated[str | None, Query(max_length=100, description="e.g. h3, h3+h4")] = None,
    algorithm: Annotated[str | None, Query(max_length=16)] = None,
    d_min: Annotated[int | None, Query(ge=0)] = None,
    d_max: Annotated[int | None, Query(ge=0)] = None,
    name: Annotated[str | None, Query(max_length=200,
                                      description="substring, case-insensitive")] = None,
    sort: Annotated[str, Query(description=f"one of {', '.join(SORT_KEYS)}; '-' for "
                                           "descending")] = "-id",
    limit: Annotated[int | None, Query(ge=1, description="page size")] = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> ExperimentsPublic:
    try:
        order = crud.Sort.parse(sort)
    except ValueError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    size = min(limit or settings.default_page_size, settings.max_page_size)
    filters = crud.Filters(status=list(status_ or []), owner=owner, tag=tag, target=target,
                           algorithm=algorithm, d_min=d_min, d_max=d_max, name=name)
    try:
        rows, next_cursor = crud.list_experiments(session=session, filters=filters, sort=order,
                                                  limit=size, cursor=cursor)
    except crud.BadCursor as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    return ExperimentsPublic(items=[_public(row) for row in rows], next_cursor=next_cursor)


@router.get("/{experiment_id}", response_model=ExperimentPublic, summary="Show an experiment",
            responses=NOT_FOUND)
def show(experiment: ExperimentDep) -> ExperimentPublic:
    return _public(experiment)


def _invalid(where: str, msg: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", where), "msg": msg, "type": "value_error"}])


def _csv_list(text: str | None, where: str, cast: type = str) -> list[Any] | None:
    if text is None or not text.strip():
        return None
    try:
        return [cast(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise _invalid(where, f"expected a comma-separated list, got {text!r}") from None


@router.get(
    "/{experiment_id}/trace",
    response_model=TracePublic,
    summary="The evaluation trace, optionally downsampled",
    description="Points of the chosen metrics per seed, ordered by seed, phase, step. Above "
    "`max_points`, each seed's curve is cut into buckets of consecutive steps and each bucket "
    "keeps the points holding the minimum and the maximum of every chosen metric (plus the first "
    "and last point), so the shape and the extremes survive. `format=csv` returns text/csv with "
    "a header row.",
    responses={**NOT_FOUND, **INVALID,
               200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def trace(
    experiment: ExperimentDep,
    session: SessionDep,
    metrics: Annotated[str | None, Query(description=f"comma-separated, of "
                                                     f"{', '.join(TRACE_METRICS)}")] = None,
    seeds: Annotated[str | None, Query(description="comma-separated seeds; default all")] = None,
    phase: Literal["phase1", "phase2"] | None = None,
    step_min: Annotated[int | None, Query(ge=0)] = None,
    step_max: Annotated[int | None, Query(ge=0)] = None,
    max_points: Annotated[int, Query(ge=2, le=1_000_000)] = 500,
    format: Literal["json", "csv"] = "json",
) -> Any:
    chosen = _csv_list(metrics, "metrics") or list(TRACE_METRICS)
    unknown = [name for name in chosen if name not in TRACE_METRICS]
    if unknown:
        raise _invalid("metrics", f"unknown metrics {unknown}; known: {', '.join(TRACE_METRICS)}")
    chosen = list(dict.fromkeys(chosen))
    rows = crud.trace_rows(session=session, experiment_id=experiment.id, metrics=chosen,
                           seeds=_csv_list(seeds, "seeds", int), phase=phase,
                           step_min=step_min, step_max=step_max)
    kept = crud.downsample(rows, chosen, max_points)
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["seed", "phase", "step", "samples", *chosen])
        for row in kept:
            writer.writerow([row.seed, row.phase, row.step, row.samples,
                             *("" if row.values[m] is None else repr(row.values[m])
                               for m in chosen)])
        return PlainTextResponse(
            out.getvalue(), media_type="text/csv",
            headers={"Content-Disposition":
                     f'attachment; filename="experiment-{experiment.id}-trace.csv"'})
    return TracePublic(
        experiment_id=experiment.id, metrics=chosen, total_points=len(rows),
        downsampled=len(kept) < len(rows),
        points=[TracePointPublic(seed=r.seed, phase=r.phase, step=r.step, samples=r.samples,
                                 values=r.values) for r in kept],
    )


@router.post(
    "/{experiment_id}/cancel",
    response_model=ExperimentPublic,
    summary="Cancel an experiment",
    description="Queued: cancelled at once (it never starts). Running: `cancel_requested` is set "
    "and the worker stops at its next heartbeat, keeping the trace. Finished: 409.",
    responses={**NOT_FOUND, **CONFLICT},
)
def cancel(experiment: ExperimentDep, session: SessionDep) -> ExperimentPublic:
    now = utcnow()
    after = queue.request_cancel(experiment.id, session=session, now=now)
    if after is None or after.updated_at != now:  # neither queued nor running: nothing changed
        session.rollback()
        session.refresh(experiment)
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"experiment {experiment.id} is already {experiment.status}")
    session.commit()
    session.refresh(after)
    return _public(after)


@router.post(
    "/{experiment_id}/retry",
    response_model=ExperimentPublic,
    summary="Run a failed, cancelled or diverged experiment again",
    description="Queues it again with a renewed attempt budget and sends it to the broker. "
    "Queued, running or completed experiments: 409.",
    responses={**NOT_FOUND, **CONFLICT},
)
def retry(experiment: ExperimentDep, session: SessionDep, broker: BrokerDep) -> ExperimentPublic:
    if not queue.retry(experiment.id, session=session):
        session.rollback()
        session.refresh(experiment)
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"experiment {experiment.id} is {experiment.status}; only failed, "
                            "cancelled or diverged experiments can be retried")
    session.commit()
    session.refresh(experiment)
    _dispatch(session, broker, experiment)
    return _public(experiment)
