"""/sweeps/{id}/fair and /sweeps/{id}/boundary: the science aggregations of a sweep's results
(api/fair.py: the best cell over an axis; api/boundary.py: where the cells cross a level)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import boundary, fair
from api.deps import MAX_ID, CurrentUser, SessionDep, SettingsDep, SweepDep
from api.query import AXIS, one_of
from api.services.accounts import may_see
from db.models import Experiment, Sweep
from trainer.spec import Unstated

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


def pooled_sweeps(
    sweep: SweepDep,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    also: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None,
        Query(
            alias="with",
            max_length=16,
            description="more sweeps with the same axes whose cells join this one's, e.g. the "
            "same grid at a larger d submitted later",
        ),
    ] = None,
) -> list[Sweep]:
    """This sweep, and those named by `with` (each visible to the caller, with its axes)."""
    out = [sweep]
    for other_id in dict.fromkeys(also or []):
        other = session.get(Sweep, other_id)
        if other is None or not may_see(user, other.owner, settings):
            raise _invalid("with", f"sweep {other_id} not found", Unstated.resource)
        if other.axes != sweep.axes:
            raise _invalid(
                "with",
                f"sweep {other_id} has the axes {other.axes}, not {sweep.axes}",
                Unstated.resource,
            )
        if other.id != sweep.id:
            out.append(other)
    return out


PooledDep = Annotated[list[Sweep], Depends(pooled_sweeps)]


@router.get(
    "/{sweep_id}/fair",
    summary="Best cell per (target, algorithm, d) over an axis, and the scaling fit over winners",
    description="Per (target, algorithm, d), the cell whose Kaplan–Meier median recovery time "
    "(`statistic`: held, weak or first:<threshold>) is lowest over the values of `over`, with "
    "every candidate's KM quartiles and censored count (a seed that never recovered is censored "
    "at its budget). Per (target, algorithm), samples ≈ e^a·d^b fitted to the winners' KM "
    "medians with a 95% bootstrap interval over seeds; a line with a censored median at some d "
    "is refused with the reason (narrow it with d_min / d_max). `with` pools the cells of "
    "other sweeps of the same axes, e.g. the same grid at a larger d submitted later.",
)
def fair_route(
    sweep: SweepDep,
    pooled: PooledDep,
    session: SessionDep,
    over: Annotated[
        str,
        Query(max_length=200, pattern=AXIS, description="axis path, e.g. phase1.stages.0.lr"),
    ],
    statistic: Annotated[
        str,
        Query(
            max_length=40,
            # fair.check_statistic's rule: held, weak or first:<threshold in (0, 1)>.
            pattern=r"^(held|weak|first:0?\.[0-9]*[1-9][0-9]*)$",
            description="held, weak or first:<threshold>, e.g. first:0.3",
        ),
    ] = "held",
    d_min: Annotated[int | None, Query(ge=1)] = None,
    d_max: Annotated[int | None, Query(ge=1)] = None,
    resamples: Annotated[int, Query(ge=0, le=10_000)] = 1000,
) -> dict[str, Any]:
    if over not in sweep.axes:
        raise _invalid(
            "over",
            f"not an axis of this sweep; its axes: {', '.join(sweep.axes)}",
            Unstated.resource,
        )
    problem = fair.check_statistic(statistic)
    if problem:
        raise _invalid("statistic", problem)
    members = _members(session, pooled, d_min, d_max)
    found = fair.fair_scaling(members, over, statistic, resamples)
    return {"sweep_id": sweep.id, "with": [p.id for p in pooled[1:]], **found}


@router.get(
    "/{sweep_id}/boundary",
    summary="Samples at which the median of a per-seed result reaches a level, against d",
    description="Per (target, algorithm, d), the cells sorted by `x` (Phase I samples, those "
    "plus Phase II's, or steps) and each cell's median over seeds of `field`; the boundary is "
    "where that median first reaches `level` (at or below it for test MSE, at or above it for "
    "an overlap), interpolated between the two cells around it. Per (target, algorithm), "
    "boundary ≈ e^a·d^b with a 95% bootstrap interval over seeds; a line with no boundary at "
    "some d (reached at its smallest x, or never) is refused with the reason. `with` pools "
    "other sweeps of the same axes.",
)
def boundary_route(
    sweep: SweepDep,
    pooled: PooledDep,
    session: SessionDep,
    level: Annotated[float, Query(gt=0, allow_inf_nan=False)],
    field: Annotated[str, Query(pattern=one_of(boundary.FIELDS))] = "test_mse",
    x: Annotated[str, Query(pattern=one_of(boundary.X_KINDS))] = "total_samples",
    d_min: Annotated[int | None, Query(ge=1)] = None,
    d_max: Annotated[int | None, Query(ge=1)] = None,
    resamples: Annotated[int, Query(ge=0, le=10_000)] = 1000,
) -> dict[str, Any]:
    if field not in boundary.FIELDS:
        raise _invalid("field", f"unknown; one of {', '.join(boundary.FIELDS)}")
    if x not in boundary.X_KINDS:
        raise _invalid("x", f"unknown; one of {', '.join(boundary.X_KINDS)}")
    members = _members(session, pooled, d_min, d_max)
    try:
        found = boundary.boundary(members, field, level, x, resamples)
    except ValueError as error:  # the sweep's cells (several at one x): its data, not the form
        raise _invalid("x", str(error), Unstated.resource) from None
    return {"sweep_id": sweep.id, "with": [p.id for p in pooled[1:]], **found}


def _members(
    session: Session, sweeps: list[Sweep], d_min: int | None, d_max: int | None
) -> list[Experiment]:
    query = select(Experiment).where(Experiment.sweep_id.in_([s.id for s in sweeps]))
    if d_min is not None:
        query = query.where(Experiment.d >= d_min)
    if d_max is not None:
        query = query.where(Experiment.d <= d_max)
    return list(session.scalars(query.order_by(Experiment.id)))


def _invalid(field: str, msg: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", field), "msg": msg, "type": kind, "input": None}]
    )
