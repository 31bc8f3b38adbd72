"""/sweeps/{id}/heatmap.{png|svg} and /scaling.{png|svg}: a sweep's figures. The work is
api.services.sweep_plots'."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api import plots
from api.deps import SessionDep, SweepDep
from api.plot_query import HeatmapQuery, ScalingPlotQuery
from api.responses import IMAGE, INVALID, SWEEP_NOT_FOUND
from api.services import sweep_plots

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
    query: Annotated[HeatmapQuery, Query()],
) -> Response:
    return _image(sweep_plots.heatmap(sweep, query, session=session, fmt=fmt), fmt)


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
    query: Annotated[ScalingPlotQuery, Query()],
) -> Response:
    return _image(sweep_plots.scaling_plot(sweep, query, session=session, fmt=fmt), fmt)
