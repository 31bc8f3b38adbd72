"""/experiments: submit, validate, list, show, trace, position, cancel, retry, delete.

Everyone with a key reads (SILAB_EXPERIMENTS_VISIBLE=own: only their own); only the owner or an
admin changes (api.deps). Submit, cancel, retry and delete are written to the audit log in the
same transaction as the change."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError

from api import accounts, crud
from api.accounts import Principal
from api.config import ApiSettings
from api.deps import (
    CurrentUser,
    ExperimentDep,
    OwnedExperimentDep,
    SessionDep,
    SettingsDep,
    may_see,
)
from api.schemas import (
    SORT_KEYS,
    TRACE_METRICS,
    ErrorPublic,
    ExperimentCreate,
    ExperimentPublic,
    ExperimentsPublic,
    PositionPublic,
    SpecCreate,
    SpecValidationPublic,
    Status,
    TracePointPublic,
    TracePublic,
    ValidationErrorPublic,
)
from db import queue, scheduler
from db.models import Experiment, IdempotencyKey, utcnow
from db.models import Status as RunStatus

router = APIRouter(prefix="/experiments", tags=["experiments"])

NOT_FOUND = {404: {"model": ErrorPublic, "description": "no experiment with this id"}}
INVALID = {
    422: {
        "model": ValidationErrorPublic,
        "description": "invalid input; `loc` names the field, e.g. "
        '["body","spec","phase1","stages",0,"lr"]',
    }
}
CONFLICT = {409: {"model": ErrorPublic, "description": "not possible in the current status"}}
FORBIDDEN = {403: {"model": ErrorPublic, "description": "only the owner or an admin may"}}
OVER_LIMIT = {
    429: {
        "model": ErrorPublic,
        "description": "over the user's queued-experiments limit (the message says by how much)",
    }
}


def _public(experiment: Experiment) -> ExperimentPublic:
    return ExperimentPublic.model_validate(experiment)


def dispatch_now(request: Request) -> list[int]:
    """One round of the fair dispatcher (db.scheduler), right after a change to the queue: free
    worker slots go to whoever's turn it is, not necessarily to the experiment just submitted.
    A broker that is down leaves everything for the worker's periodic dispatcher."""
    settings: ApiSettings = request.app.state.settings
    broker = request.app.state.broker

    def send(experiment_ids: list[int]) -> None:
        if not broker.send_group(experiment_ids):
            raise ConnectionError(f"the broker did not take experiments {experiment_ids}")

    sent, _ = scheduler.dispatch_round(
        request.app.state.sessionmaker,
        send,
        slots=settings.worker_slots,
        default_max_running=settings.default_max_running,
        resend_after_s=settings.resend_after_s,
    )
    return sent


def _check_memory(spec: Any, settings: ApiSettings) -> None:
    """422 when the spec's memory estimate is above the server's limit (a spec may lower its own
    `max_memory_gb`, never raise the server's)."""
    estimate = spec.facts()["memory_estimate_bytes"]
    if estimate > settings.max_memory_gb * 2**30:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "spec", "max_memory_gb"),
                    "msg": f"memory estimate {estimate / 2**30:.1f} GiB (memory_estimate_bytes = "
                    f"{estimate}) exceeds this server's limit of {settings.max_memory_gb:g} GiB "
                    "(SILAB_MAX_MEMORY_GB); spec.max_memory_gb cannot raise it",
                    "type": "value_error",
                }
            ]
        )


def check_queued_limit(
    user: Principal, settings: ApiSettings, session: Any, adding: int = 1
) -> None:
    limit = user.max_queued if user.max_queued is not None else settings.default_max_queued
    if limit is None:
        return
    queued = accounts.count_by_status(user.name, RunStatus.queued, session=session)
    if queued + adding > limit:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"max_queued limit: {user.name} may have at most {limit} queued experiments and has "
            f"{queued}; this would be {queued + adding - limit} over. Wait for some to start, "
            "or cancel some.",
        )


def _request_hash(body: ExperimentCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(session: Any, owner: str, key: str, request_hash: str) -> Experiment | None:
    """The experiment a previous submission with this Idempotency-Key created; 409 when that
    submission had a different body."""
    stored = session.get(IdempotencyKey, (owner, key))
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Idempotency-Key {key!r} was used for a different request (experiment "
            f"{stored.experiment_id}); use a new key for a new submission",
        )
    return session.get(Experiment, stored.experiment_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ExperimentPublic,
    summary="Submit an experiment",
    description="Validates the spec (422 naming the field; nothing is stored then; a memory "
    "estimate above SILAB_MAX_MEMORY_GB is 422 too), checks the caller's queued limit (429), "
    "stores the experiment as queued with the caller as owner, commits, then runs a round of the "
    "fair dispatcher. A broker that is down does not fail the submission: `dispatched_at` stays "
    "null and the worker's dispatcher sends it later. With an `Idempotency-Key` header, the same "
    "key and body return the experiment the first request created (201 again, header "
    "`Idempotent-Replayed: true`); the same key with a different body is 409.",
    responses={
        **INVALID,
        **OVER_LIMIT,
        409: {"model": ErrorPublic, "description": "Idempotency-Key reused with a different body"},
        201: {"description": "created; `Location` is its URL"},
    },
)
def submit(
    body: ExperimentCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=200, description="retry-safe submission")
    ] = None,
) -> ExperimentPublic:
    _check_memory(body.spec, settings)
    request_hash = _request_hash(body)
    if idempotency_key is not None:
        earlier = _replay(session, user.name, idempotency_key, request_hash)
        if earlier is not None:
            response.headers["Location"] = f"/experiments/{earlier.id}"
            response.headers["Idempotent-Replayed"] = "true"
            return _public(earlier)
    check_queued_limit(user, settings, session)
    experiment = crud.create_experiment(
        session=session,
        spec=body.spec,
        owner=user.name,
        name=body.name,
        tags=body.tags,
        priority=body.priority,
        max_attempts=body.max_attempts,
    )
    accounts.audit(
        "submit",
        session=session,
        actor=user.name,
        experiment_id=experiment.id,
        detail={"priority": experiment.priority, "name": experiment.name},
    )
    if idempotency_key is not None:
        session.add(
            IdempotencyKey(
                owner=user.name,
                key=idempotency_key,
                request_hash=request_hash,
                experiment_id=experiment.id,
            )
        )
    try:
        session.commit()
    except IntegrityError:  # a concurrent request with the same key won
        session.rollback()
        earlier = _replay(session, user.name, idempotency_key or "", request_hash)
        if earlier is None:
            raise
        response.headers["Idempotent-Replayed"] = "true"
        experiment = earlier
    dispatch_now(request)
    session.refresh(experiment)
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
def validate(body: SpecCreate, settings: SettingsDep) -> SpecValidationPublic:
    spec = body.spec
    _check_memory(spec, settings)
    return SpecValidationPublic(
        valid=True,
        spec=spec.model_dump(mode="json"),
        facts=spec.facts(),
        spec_hash=spec.spec_hash(),
    )


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
    user: CurrentUser,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[list[str] | None, Query()] = None,
    target: Annotated[str | None, Query(max_length=100, description="e.g. h3, h3+h4")] = None,
    algorithm: Annotated[str | None, Query(max_length=16)] = None,
    d_min: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    d_max: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    name: Annotated[
        str | None, Query(max_length=200, description="substring, case-insensitive")
    ] = None,
    held_recovery_samples_max: Annotated[
        float | None,
        Query(ge=0, description="median held-recovery samples at most this (censored: never)"),
    ] = None,
    held_recovery_fraction_min: Annotated[
        float | None, Query(ge=0, le=1, description="fraction of seeds with held recovery")
    ] = None,
    sort: Annotated[
        str, Query(description=f"one of {', '.join(SORT_KEYS)}; '-' for descending")
    ] = "-id",
    limit: Annotated[int | None, Query(ge=1, description="page size")] = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> ExperimentsPublic:
    try:
        order = crud.Sort.parse(sort)
    except ValueError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    size = min(limit or settings.default_page_size, settings.max_page_size)
    if not may_see(user, owner or "", settings):  # own-only visibility: a member's own rows
        if owner is not None:
            return ExperimentsPublic(items=[], next_cursor=None)
        owner = user.name
    filters = crud.Filters(
        status=list(status_ or []),
        owner=owner,
        tag=tag,
        target=target,
        algorithm=algorithm,
        d_min=d_min,
        d_max=d_max,
        name=name,
        held_recovery_samples_max=held_recovery_samples_max,
        held_recovery_fraction_min=held_recovery_fraction_min,
    )
    try:
        rows, next_cursor = crud.list_experiments(
            session=session, filters=filters, sort=order, limit=size, cursor=cursor
        )
    except crud.BadCursor as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    return ExperimentsPublic(items=[_public(row) for row in rows], next_cursor=next_cursor)


@router.get(
    "/{experiment_id}",
    response_model=ExperimentPublic,
    summary="Show an experiment",
    responses=NOT_FOUND,
)
def show(experiment: ExperimentDep) -> ExperimentPublic:
    return _public(experiment)


def _invalid(where: str, msg: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", where), "msg": msg, "type": "value_error"}])


def _csv_list(text: str | None, where: str, cast: type = str) -> list[Any] | None:
    if text is None or not text.strip():
        return None
    try:
        values = [cast(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise _invalid(where, f"expected a comma-separated list, got {text!r}") from None
    if cast is int and any(abs(v) > 2**63 - 1 for v in values):
        raise _invalid(where, "a number is out of the 64-bit range")
    return values


@router.get(
    "/{experiment_id}/trace",
    response_model=TracePublic,
    summary="The evaluation trace, optionally downsampled",
    description="Points of the chosen metrics per seed, ordered by seed, phase, step. Above "
    "`max_points`, each seed's curve is cut into buckets of consecutive steps and each bucket "
    "keeps the points holding the minimum and the maximum of every chosen metric (plus the first "
    "and last point), so the shape and the extremes survive. `format=csv` returns text/csv with "
    "a header row.",
    responses={
        **NOT_FOUND,
        **INVALID,
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    },
)
def trace(
    experiment: ExperimentDep,
    session: SessionDep,
    metrics: Annotated[
        str | None, Query(description=f"comma-separated, of {', '.join(TRACE_METRICS)}")
    ] = None,
    seeds: Annotated[str | None, Query(description="comma-separated seeds; default all")] = None,
    phase: Literal["phase1", "phase2"] | None = None,
    step_min: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    step_max: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    max_points: Annotated[int, Query(ge=2, le=1_000_000)] = 500,
    format: Literal["json", "csv"] = "json",
) -> Any:
    chosen = _csv_list(metrics, "metrics") or list(TRACE_METRICS)
    unknown = [name for name in chosen if name not in TRACE_METRICS]
    if unknown:
        raise _invalid("metrics", f"unknown metrics {unknown}; known: {', '.join(TRACE_METRICS)}")
    chosen = list(dict.fromkeys(chosen))
    rows = crud.trace_rows(
        session=session,
        experiment_id=experiment.id,
        metrics=chosen,
        seeds=_csv_list(seeds, "seeds", int),
        phase=phase,
        step_min=step_min,
        step_max=step_max,
    )
    kept = crud.downsample(rows, chosen, max_points)
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["seed", "phase", "step", "samples", *chosen])
        for row in kept:
            writer.writerow(
                [
                    row.seed,
                    row.phase,
                    row.step,
                    row.samples,
                    *("" if row.values[m] is None else repr(row.values[m]) for m in chosen),
                ]
            )
        return PlainTextResponse(
            out.getvalue(),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="experiment-{experiment.id}-trace.csv"'
            },
        )
    return TracePublic(
        experiment_id=experiment.id,
        metrics=chosen,
        total_points=len(rows),
        downsampled=len(kept) < len(rows),
        points=[
            TracePointPublic(
                seed=r.seed, phase=r.phase, step=r.step, samples=r.samples, values=r.values
            )
            for r in kept
        ],
    )


@router.get(
    "/{experiment_id}/position",
    response_model=PositionPublic,
    summary="A queued experiment's place in line and what it waits for",
    description="An estimate from the current state (db.scheduler.position): experiments of a "
    "higher priority go first; within a priority users take turns by how many slots they hold. "
    "Not queued: `position` is null. Sent but not claimed yet: `in_flight`.",
    responses=NOT_FOUND,
)
def position(
    experiment: ExperimentDep, session: SessionDep, settings: SettingsDep
) -> PositionPublic:
    found = scheduler.position(
        experiment.id,
        session=session,
        slots=settings.worker_slots,
        default_max_running=settings.default_max_running,
        resend_after_s=settings.resend_after_s,
    )
    if found is None:  # deleted meanwhile
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"experiment {experiment.id} not found")
    return PositionPublic.model_validate(found, from_attributes=True)


@router.post(
    "/{experiment_id}/cancel",
    response_model=ExperimentPublic,
    summary="Cancel an experiment (owner or admin)",
    description="Queued: cancelled at once (it never starts). Running: `cancel_requested` is set "
    "and the worker stops at its next heartbeat, keeping the trace. Finished: 409.",
    responses={**NOT_FOUND, **CONFLICT, **FORBIDDEN},
)
def cancel(
    experiment: OwnedExperimentDep, session: SessionDep, user: CurrentUser
) -> ExperimentPublic:
    now = utcnow()
    before = experiment.status
    after = queue.request_cancel(experiment.id, session=session, now=now)
    if after is None or after.updated_at != now:  # neither queued nor running: nothing changed
        session.rollback()
        session.refresh(experiment)
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"experiment {experiment.id} is already {experiment.status}"
        )
    accounts.audit(
        "cancel",
        session=session,
        actor=user.name,
        experiment_id=experiment.id,
        detail={"owner": experiment.owner, "status": before},
    )
    session.commit()
    session.refresh(after)
    return _public(after)


@router.post(
    "/{experiment_id}/retry",
    response_model=ExperimentPublic,
    summary="Run a failed, cancelled or diverged experiment again (owner or admin)",
    description="Queues it again with a renewed attempt budget (it counts against the owner's "
    "queued limit: 429 over it) and runs a round of the fair dispatcher. Queued, running or "
    "completed experiments: 409.",
    responses={**NOT_FOUND, **CONFLICT, **FORBIDDEN, **OVER_LIMIT},
)
def retry(
    experiment: OwnedExperimentDep,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> ExperimentPublic:
    owner = accounts.find_account(experiment.owner, session=session)
    limits = Principal(
        account_id=0,
        name=experiment.owner,
        role="member",
        key_id=0,
        key_prefix="",
        key_expires_at=None,
        max_running=None,
        max_queued=owner.max_queued if owner else None,
    )
    if experiment.status in [s.value for s in queue.RETRYABLE]:
        check_queued_limit(limits, settings, session)
    if not queue.retry(experiment.id, session=session):
        session.rollback()
        session.refresh(experiment)
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"experiment {experiment.id} is {experiment.status}; only failed, "
            "cancelled or diverged experiments can be retried",
        )
    accounts.audit(
        "retry",
        session=session,
        actor=user.name,
        experiment_id=experiment.id,
        detail={"owner": experiment.owner},
    )
    session.commit()
    dispatch_now(request)
    session.refresh(experiment)
    return _public(experiment)


@router.delete(
    "/{experiment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an experiment, its trace and its checkpoint (owner or admin)",
    description="Queued or finished experiments only; a running one is 409 (cancel it first). "
    "The audit log keeps the deletion.",
    responses={**NOT_FOUND, **CONFLICT, **FORBIDDEN},
)
def delete(experiment: OwnedExperimentDep, session: SessionDep, user: CurrentUser) -> Response:
    experiment_id, owner, was = experiment.id, experiment.owner, experiment.status
    session.expunge(experiment)
    # Conditional, like every state change: a claim that lands first makes this match nothing.
    # The tags, trace points, checkpoint and idempotency keys go with it (ON DELETE CASCADE).
    deleted = session.execute(
        sql_delete(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status != RunStatus.running.value)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not deleted:
        session.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"experiment {experiment_id} is running; cancel it first"
        )
    accounts.audit(
        "delete",
        session=session,
        actor=user.name,
        experiment_id=experiment_id,
        detail={"owner": owner, "status": was},
    )
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
