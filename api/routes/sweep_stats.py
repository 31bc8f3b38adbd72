"""/sweeps/{id}/aggregate, /aggregate/trace and /scaling: a sweep's results summarized over
seeds, as JSON or CSV. The work is api.services.sweep_stats'."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.deps import SessionDep, SweepDep
from api.query import AXIS, THRESHOLD, WHERE, AxisValue, comma_separated, one_of
from api.responses import CSV, INVALID, SWEEP_NOT_FOUND
from api.schemas import TRACE_METRICS, ScalingPublic, SweepCellsPublic
from api.services import sweep_stats
from api.sweep_cells import SEED_FIELDS

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


def _csv(text: str, filename: str) -> PlainTextResponse:
    return PlainTextResponse(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/{sweep_id}/aggregate",
    response_model=SweepCellsPublic,
    summary="Per-cell statistics over seeds",
    description="For each cell: mean, std, 95% t-interval of the mean, n and n_missing of each "
    "per-seed result, over every seed of every experiment of the cell (experiments that differ "
    "only in seed are pooled). Seeds come from finished experiments' `result.seeds`. "
    "`recovered` is 1 for a seed that reached weak recovery, else 0 (its mean is the fraction). "
    "`format=csv`: one row per cell, columns `<field>.<mean|std|ci95_low|ci95_high|n|n_missing>`.",
    responses={**SWEEP_NOT_FOUND, **INVALID, **CSV},
)
def aggregate(
    sweep: SweepDep,
    session: SessionDep,
    fields: Annotated[
        str | None,
        Query(pattern=comma_separated(SEED_FIELDS), description="comma-separated; default all"),
    ] = None,
    where: Annotated[list[AxisValue] | None, WHERE] = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    chosen = sweep_stats.seed_fields(fields)
    cells = sweep_stats.cells(sweep, session=session, fields=chosen, where=where)
    if format == "csv":
        return _csv(sweep_stats.cells_csv(sweep, chosen, cells), f"sweep-{sweep.id}-aggregate.csv")
    return SweepCellsPublic(sweep_id=sweep.id, axes=sweep.axes, fields=chosen, cells=cells)


@router.get(
    "/{sweep_id}/aggregate/trace",
    summary="A metric's trace per cell, summarized over seeds at each evaluation point",
    description="Per cell: for each (phase, step), mean, std, 95% interval, n and median of "
    "`metric` over all seeds of the cell's experiments (api.aggregate.aggregate_trace). "
    "`format=csv`: one row per cell and point, the axis values first.",
    responses={**SWEEP_NOT_FOUND, **INVALID, **CSV},
)
def aggregate_trace(
    sweep: SweepDep,
    session: SessionDep,
    metric: Annotated[
        str,
        Query(pattern=one_of(TRACE_METRICS), description=f"one of {', '.join(TRACE_METRICS)}"),
    ] = "median_abs_m",
    where: Annotated[list[AxisValue] | None, WHERE] = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    traces = sweep_stats.cell_traces(sweep, session=session, metric=metric, where=where)
    if format == "csv":
        text = sweep_stats.cell_traces_csv(sweep, traces)
        return _csv(text, f"sweep-{sweep.id}-trace-{metric}.csv")
    return {"sweep_id": sweep.id, "axes": sweep.axes, "metric": metric, "cells": traces.cells}


@router.get(
    "/{sweep_id}/scaling",
    response_model=ScalingPublic,
    summary="Samples to weak recovery against d, fitted on log-log axes",
    description="One fit per combination of the other axes: log(samples) = a + b·log(d) by least "
    "squares over seeds, with b's 95% t-interval (api.scaling_fit). Seeds that never "
    "reached the threshold are left out of the fit and counted in `n_missing`.",
    responses={**SWEEP_NOT_FOUND, **INVALID},
)
def scaling(
    sweep: SweepDep,
    session: SessionDep,
    threshold: Annotated[float | None, THRESHOLD] = None,
    metric: Annotated[str, Query(pattern=one_of(TRACE_METRICS))] = "median_abs_m",
    x: Annotated[str, Query(pattern=AXIS, description="the dimension axis")] = "d",
) -> ScalingPublic:
    groups = sweep_stats.scaling(sweep, session=session, x=x, metric=metric, threshold=threshold)
    return ScalingPublic(sweep_id=sweep.id, x=x, metric=metric, threshold=threshold, groups=groups)
