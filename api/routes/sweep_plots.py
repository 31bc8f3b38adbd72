"""/sweeps/{id}/heatmap.{png|svg} and /scaling.{png|svg}: a sweep's figures. The work is
api.services.sweep_plots'."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api import plots
from api.deps import SessionDep, SweepDep
from api.query import AXIS, THRESHOLD, WHERE, AxisValue, one_of
from api.responses import IMAGE, INVALID, SWEEP_NOT_FOUND
from api.schemas import TRACE_METRICS
from api.services import sweep_plots
from api.sweep_cells import SEED_FIELDS

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


def _image(data: bytes, fmt: plots.Fmt) -> Response:
    return Response(data, media_type=plots.MEDIA_TYPES[fmt], headers={"Cache-Control": "no-cache"})


@router.get(
    "/{sweep_id}/heatmap.{fmt}",
    summary="Heatmap of an aggregated result over two axes (like the paper's Figure 1)",
    description="Colour = `stat` (default mean over seeds) of `value` per cell. Other axes must "
    "be pinned with `where=AXIS=VALUE` when they vary.",
    response_class=Response,
    responses={**SWEEP_NOT_FOUND, **INVALID, **IMAGE},
)
def heatmap(
    sweep: SweepDep,
    session: SessionDep,
    fmt: plots.Fmt,
    x: Annotated[str, Query(pattern=AXIS)] = "d",
    y: Annotated[str, Query(pattern=AXIS)] = "phase1.n",
    value: Annotated[
        str, Query(pattern=one_of(SEED_FIELDS), description="a per-seed field")
    ] = "test_mse",
    stat: Literal["mean", "std", "ci95_low", "ci95_high", "n"] = "mean",
    where: Annotated[list[AxisValue] | None, WHERE] = None,
    annotate: bool = True,
    log_color: Annotated[
        bool | None, Query(description="omitted: log when the values span more than a decade")
    ] = None,
    vmin: float | None = None,
    vmax: float | None = None,
    title: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    style = sweep_plots.HeatmapStyle(annotate, log_color, vmin, vmax, title)
    data = sweep_plots.heatmap(
        sweep,
        session=session,
        fmt=fmt,
        x=x,
        y=y,
        value=value,
        stat=stat,
        where=where,
        style=style,
    )
    return _image(data, fmt)


@router.get(
    "/{sweep_id}/scaling.{fmt}",
    summary="Scaling plot: samples to weak recovery against d with the fitted exponent",
    description="One group of the scaling fit (see /scaling): `group` is its index, or pin it "
    "with where=AXIS=VALUE.",
    response_class=Response,
    responses={**SWEEP_NOT_FOUND, **INVALID, **IMAGE},
)
def scaling_image(
    sweep: SweepDep,
    session: SessionDep,
    fmt: plots.Fmt,
    threshold: Annotated[float | None, THRESHOLD] = None,
    metric: Annotated[str, Query(pattern=one_of(TRACE_METRICS))] = "median_abs_m",
    x: Annotated[str, Query(pattern=AXIS)] = "d",
    group: Annotated[int, Query(ge=0)] = 0,
    where: Annotated[list[AxisValue] | None, WHERE] = None,
    information_exponent: Annotated[int | None, Query(ge=1, le=32)] = None,
    title: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    data = sweep_plots.scaling_plot(
        sweep,
        session=session,
        fmt=fmt,
        x=x,
        metric=metric,
        threshold=threshold,
        group=group,
        where=where,
        information_exponent=information_exponent,
        title=title,
    )
    return _image(data, fmt)
