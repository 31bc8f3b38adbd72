"""/sweeps/{id}/fair and /sweeps/{id}/boundary: the science aggregations of a sweep's results
(api/fair.py: the best cell over an axis; api/boundary.py: where the cells cross a level)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import boundary, fair
from api.deps import SessionDep, SweepDep
from db.models import Experiment

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


@router.get(
    "/{sweep_id}/fair",
    summary="Best cell per (target, algorithm, d) over an axis, and the scaling fit over winners",
    description="Per (target, algorithm, d), the cell whose Kaplan–Meier median recovery time "
    "(`statistic`: held, weak or first:<threshold>) is lowest over the values of `over`, with "
    "every candidate's KM quartiles and censored count (a seed that never recovered is censored "
    "at its budget). Per (target, algorithm), samples ≈ e^a·d^b fitted to the winners' KM "
    "medians with a 95% bootstrap interval over seeds; a line with a censored median at some d "
    "is refused with the reason (narrow it with d_min / d_max).",
)
def fair_route(
    sweep: SweepDep,
    session: SessionDep,
    over: Annotated[str, Query(max_length=200, description="axis path, e.g. phase1.stages.0.lr")],
    statistic: Annotated[str, Query(max_length=40)] = "held",
    d_min: Annotated[int | None, Query(ge=1)] = None,
    d_max: Annotated[int | None, Query(ge=1)] = None,
    resamples: Annotated[int, Query(ge=0, le=10_000)] = 1000,
) -> dict[str, Any]:
    if over not in sweep.axes:
        raise _invalid("over", f"not an axis of this sweep; its axes: {', '.join(sweep.axes)}")
    problem = fair.check_statistic(statistic)
    if problem:
        raise _invalid("statistic", problem)
    members = _members(session, sweep.id, d_min, d_max)
    return {"sweep_id": sweep.id, **fair.fair_scaling(members, over, statistic, resamples)}


@router.get(
    "/{sweep_id}/boundary",
    summary="Samples at which the median of a per-seed result reaches a level, against d",
    description="Per (target, algorithm, d), the cells sorted by `x` (Phase I samples, those "
    "plus Phase II's, or steps) and each cell's median over seeds of `field`; the boundary is "
    "where that median first reaches `level` (at or below it for test MSE, at or above it for "
    "an overlap), interpolated between the two cells around it. Per (target, algorithm), "
    "boundary ≈ e^a·d^b with a 95% bootstrap interval over seeds; a line with no boundary at "
    "some d (reached at its smallest x, or never) is refused with the reason.",
)
def boundary_route(
    sweep: SweepDep,
    session: SessionDep,
    level: Annotated[float, Query(gt=0, allow_inf_nan=False)],
    field: Annotated[str, Query(max_length=40)] = "test_mse",
    x: Annotated[str, Query(max_length=20)] = "total_samples",
    d_min: Annotated[int | None, Query(ge=1)] = None,
    d_max: Annotated[int | None, Query(ge=1)] = None,
    resamples: Annotated[int, Query(ge=0, le=10_000)] = 1000,
) -> dict[str, Any]:
    if field not in boundary.FIELDS:
        raise _invalid("field", f"unknown; one of {', '.join(boundary.FIELDS)}")
    if x not in boundary.X_KINDS:
        raise _invalid("x", f"unknown; one of {', '.join(boundary.X_KINDS)}")
    members = _members(session, sweep.id, d_min, d_max)
    try:
        found = boundary.boundary(members, field, level, x, resamples)
    except ValueError as error:
        raise _invalid("x", str(error)) from None
    return {"sweep_id": sweep.id, **found}


def _members(session: Session, sweep_id: int, d_min: int | None, d_max: int | None) -> list:
    query = select(Experiment).where(Experiment.sweep_id == sweep_id)
    if d_min is not None:
        query = query.where(Experiment.d >= d_min)
    if d_max is not None:
        query = query.where(Experiment.d <= d_max)
    return list(session.scalars(query.order_by(Experiment.id)))


def _invalid(field: str, msg: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", field), "msg": msg, "type": "value_error", "input": None}]
    )
