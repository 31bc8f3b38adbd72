"""/experiments/{id}/plot.{png|svg}: an experiment's alignment and loss curves."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.exceptions import RequestValidationError

from api import plots, sweep_cells
from api.deps import ExperimentDep, SessionDep
from api.query import comma_separated
from api.schemas import TRACE_METRICS, ErrorPublic
from trainer.results import OVERLAP_METRICS

router = APIRouter(prefix="/experiments", tags=["plots"])


@router.get(
    "/{experiment_id}/plot.{fmt}",
    summary="Alignment (and loss) curves of an experiment",
    description="Each seed faint, the median across seeds bold, against fresh samples (or steps "
    "for GD on a fixed set); a second panel shows training loss and test error when present. "
    "Rendered in the thread pool (a sync route: never on the event loop) and cached by "
    "content (api.plots).",
    response_class=Response,
    responses={
        404: {"model": ErrorPublic, "description": "no experiment with this id"},
        200: {"content": {"image/png": {}, "image/svg+xml": {}}},
    },
)
def experiment_plot(
    experiment: ExperimentDep,
    session: SessionDep,
    fmt: Literal["png", "svg"],
    metric: Annotated[
        str,
        Query(
            pattern=comma_separated(OVERLAP_METRICS),
            description="overlap metric(s), comma-separated",
        ),
    ] = "median_abs_m",
    x: Literal["auto", "samples", "step"] = "auto",
) -> Response:
    chosen = [m.strip() for m in metric.split(",") if m.strip()] or ["median_abs_m"]
    unknown = [m for m in chosen if m not in OVERLAP_METRICS]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "metric"),
                    "type": "value_error",
                    "msg": f"unknown overlap metric(s) {unknown}; known: "
                    f"{', '.join(OVERLAP_METRICS)}",
                }
            ]
        )
    points = sweep_cells.trace_points(
        session=session, experiment_ids=[experiment.id], metrics=list(TRACE_METRICS)
    )
    title = f"#{experiment.id} {experiment.name}".strip()[:90]
    data = plots.alignment_curves(points, chosen, x=x, title=title, fmt=fmt)
    return Response(data, media_type=plots.MEDIA_TYPES[fmt], headers={"Cache-Control": "no-cache"})
