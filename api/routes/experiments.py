"""/experiments: submit, validate, list, show (bulk submit: api/routes/batch.py). The work is
api.services.experiments'.

Everyone with a key reads (SILAB_EXPERIMENTS_VISIBLE=own: only their own); only the owner or an
admin changes (api.deps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from api.deps import ContextDep, ExperimentDep, SettingsDep
from api.query import FiltersDep, one_of
from api.responses import INVALID, NOT_FOUND, OVER_LIMIT, error
from api.schemas import (
    SORT_KEYS,
    ExperimentCreate,
    ExperimentPublic,
    ExperimentsPublic,
    SpecCreate,
    SpecValidationPublic,
)
from api.services import experiments, limits, submissions

router = APIRouter(prefix="/experiments", tags=["experiments"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ExperimentPublic,
    summary="Submit an experiment",
    description="Validates the spec (422 naming the field; nothing is stored then; a memory "
    "estimate above SILAB_MAX_MEMORY_GB is 422 too), checks the caller's queued limit and "
    "trace quota (429), "
    "stores the experiment as queued with the caller as owner, commits, then rings the "
    "doorbell of the fair dispatcher (its round runs in the maintenance worker). A broker "
    "that is down does not fail the submission: `dispatched_at` stays "
    "null and the worker's dispatcher sends it later. With an `Idempotency-Key` header, the same "
    "key and body return the experiment the first request created (201 again, header "
    "`Idempotent-Replayed: true`); the same key with a different body is 409.",
    responses={
        **INVALID,
        **OVER_LIMIT,
        **error(409, "Idempotency-Key reused with a different body"),
        201: {"description": "created; `Location` is its URL"},
    },
)
def submit(
    body: ExperimentCreate,
    ctx: ContextDep,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=200, description="retry-safe submission")
    ] = None,
) -> ExperimentPublic:
    done = submissions.submit(body, ctx=ctx, idempotency_key=idempotency_key)
    response.headers["Location"] = f"/experiments/{done.experiment.id}"
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return ExperimentPublic.model_validate(done.experiment)


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
    limits.check_limits(spec, settings=settings)
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
    responses={**error(400, "a cursor this API did not issue"), **INVALID},
)
def list_experiments(
    ctx: ContextDep,
    filters: FiltersDep,
    sort: Annotated[
        str,
        Query(
            pattern=one_of(SORT_KEYS, sort=True),
            description=f"one of {', '.join(SORT_KEYS)}; '-' for descending",
        ),
    ] = "-id",
    limit: Annotated[int | None, Query(ge=1, description="page size")] = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> ExperimentsPublic:
    page = experiments.list_experiments(filters, ctx=ctx, sort=sort, limit=limit, cursor=cursor)
    return ExperimentsPublic.of(page.items, page.next_cursor)


@router.get(
    "/{experiment_id}",
    response_model=ExperimentPublic,
    summary="Show an experiment",
    responses=NOT_FOUND,
)
def show(experiment: ExperimentDep) -> ExperimentPublic:
    return ExperimentPublic.model_validate(experiment)
