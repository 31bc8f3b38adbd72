"""/sweeps: submit (idempotent), list, show, experiments, cancel. The work is
api.services.sweeps'; the results of a sweep are in routes/sweep_stats.py and sweep_plots.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import ContextDep, OwnedSweepDep, SessionDep, SweepDep
from api.responses import INVALID, SWEEP_NOT_FOUND
from api.schemas import ExperimentsPublic, SweepCreate, SweepPublic, SweepsPublic
from api.services import sweeps
from api.services.sweeps import SweepState

router = APIRouter(prefix="/sweeps", tags=["sweeps"])
ID_CURSOR = r"^\d{1,19}$"


def _public(state: SweepState) -> SweepPublic:
    """The sweep's row with what `state` counted: its status, progress and sample totals."""
    counted = {
        "status": state.status,
        "progress": state.progress,
        "samples_done": state.samples_done,
        "samples_total": state.samples_total,
    }
    row = {name: getattr(state.sweep, name) for name in SweepPublic.model_fields.keys() - counted}
    return SweepPublic.model_validate({**row, **counted})


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SweepPublic,
    summary="Submit a sweep",
    description="Expands the base spec over the axes into experiments (Cartesian product in "
    "axis order, zip groups together; each cell's seeds split over experiments when "
    "`seeds_per_experiment` is set), validates every one (422 naming the cell; nothing stored "
    "then), stores them as queued and sends them to the broker. Resubmitting the same definition "
    "(same base, axes and seeds: same `sweep_hash`) creates nothing and returns the existing "
    "sweep with 200.",
    responses={**INVALID, 200: {"model": SweepPublic, "description": "already submitted"}},
)
def submit(body: SweepCreate, ctx: ContextDep, response: Response) -> SweepPublic:
    done = sweeps.submit(body, ctx=ctx)
    if not done.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/sweeps/{done.state.sweep.id}"
    return _public(done.state)


@router.get(
    "",
    response_model=SweepsPublic,
    summary="List sweeps (newest first)",
    description="Keyset pages: pass `next_cursor` back as `cursor`.",
)
def list_sweeps(
    ctx: ContextDep,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    name: Annotated[str | None, Query(max_length=200, description="substring")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query(pattern=ID_CURSOR)] = None,
) -> SweepsPublic:
    page = sweeps.list_sweeps(ctx=ctx, owner=owner, name=name, limit=limit, cursor=cursor)
    return SweepsPublic(items=[_public(s) for s in page.items], next_cursor=page.next_cursor)


@router.get(
    "/{sweep_id}",
    response_model=SweepPublic,
    summary="Show a sweep and its progress",
    responses=SWEEP_NOT_FOUND,
)
def show(sweep: SweepDep, session: SessionDep) -> SweepPublic:
    return _public(sweeps.state(sweep, session=session))


@router.get(
    "/{sweep_id}/experiments",
    response_model=ExperimentsPublic,
    summary="The sweep's experiments, in expansion order",
    responses=SWEEP_NOT_FOUND,
)
def list_experiments(
    sweep: SweepDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 5000,
    cursor: Annotated[str | None, Query(pattern=ID_CURSOR)] = None,
) -> ExperimentsPublic:
    page = sweeps.experiments(sweep, session=session, limit=limit, cursor=cursor)
    return ExperimentsPublic.of(page.items, page.next_cursor)


@router.post(
    "/{sweep_id}/cancel",
    response_model=SweepPublic,
    summary="Cancel a whole sweep",
    description="Queued experiments are cancelled at once, running ones at their next "
    "heartbeat; finished ones keep their results. Cancelling twice is harmless.",
    responses={**SWEEP_NOT_FOUND, 403: {"description": "only the owner or an admin may"}},
)
def cancel(sweep: OwnedSweepDep, ctx: ContextDep) -> SweepPublic:
    return _public(sweeps.cancel(sweep, ctx=ctx))
