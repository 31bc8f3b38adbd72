"""/experiments/{id}/trace: the evaluation trace, downsampled, as JSON or CSV. The work is
api.services.traces'."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.deps import ExperimentDep, SessionDep
from api.responses import CSV, INVALID, NOT_FOUND
from api.schemas import TRACE_METRICS, TracePointPublic, TracePublic
from api.services import traces

router = APIRouter(prefix="/experiments", tags=["experiments"])
MAX_STEP = 2**63 - 1


@router.get(
    "/{experiment_id}/trace",
    response_model=TracePublic,
    summary="The evaluation trace, optionally downsampled",
    description="Points of the chosen metrics per seed, ordered by seed, phase, step. Above "
    "`max_points`, each seed's curve is cut into buckets of consecutive steps and each bucket "
    "keeps the points holding the minimum and the maximum of every chosen metric (plus the first "
    "and last point), so the shape and the extremes survive. `format=csv` returns text/csv with "
    "a header row.",
    responses={**NOT_FOUND, **INVALID, **CSV},
)
def trace(
    experiment: ExperimentDep,
    session: SessionDep,
    metrics: Annotated[
        str | None, Query(description=f"comma-separated, of {', '.join(TRACE_METRICS)}")
    ] = None,
    seeds: Annotated[str | None, Query(description="comma-separated seeds; default all")] = None,
    phase: Literal["phase1", "phase2"] | None = None,
    step_min: Annotated[int | None, Query(ge=0, le=MAX_STEP)] = None,
    step_max: Annotated[int | None, Query(ge=0, le=MAX_STEP)] = None,
    max_points: Annotated[int, Query(ge=2, le=1_000_000)] = 500,
    format: Literal["json", "csv"] = "json",
) -> Any:
    found = traces.trace(
        experiment,
        session=session,
        metrics=metrics,
        seeds=seeds,
        phase=phase,
        step_min=step_min,
        step_max=step_max,
        max_points=max_points,
    )
    if format == "csv":
        filename = f"experiment-{experiment.id}-trace.csv"
        return PlainTextResponse(
            traces.to_csv(found),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return TracePublic(
        experiment_id=found.experiment_id,
        metrics=found.metrics,
        total_points=found.total_points,
        downsampled=found.downsampled,
        points=[
            TracePointPublic(
                seed=r.seed, phase=r.phase, step=r.step, samples=r.samples, values=r.values
            )
            for r in found.points
        ],
    )
