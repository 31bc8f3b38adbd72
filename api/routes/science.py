"""/sweeps/{id}/fair: the fair-baseline aggregation (api/fair.py) of a sweep's results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select

from api import fair
from api.deps import SessionDep, SweepDep
from api.query import AXIS
from db.models import Experiment
from trainer.spec import Unstated

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
    query = select(Experiment).where(Experiment.sweep_id == sweep.id)
    if d_min is not None:
        query = query.where(Experiment.d >= d_min)
    if d_max is not None:
        query = query.where(Experiment.d <= d_max)
    members = list(session.scalars(query.order_by(Experiment.id)))
    return {"sweep_id": sweep.id, **fair.fair_scaling(members, over, statistic, resamples)}


def _invalid(field: str, msg: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", field), "msg": msg, "type": kind, "input": None}]
    )
