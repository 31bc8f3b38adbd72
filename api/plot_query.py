"""The query strings of a sweep's figures, each one model: FastAPI reads the parameters into it
and the route hands it to api.services.sweep_plots whole."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.query import AXIS, THRESHOLD, WHERE, AxisValue, one_of
from api.schemas import TRACE_METRICS
from api.sweep_cells import SEED_FIELDS


class HeatmapQuery(BaseModel):
    """What the heatmap shows (x, y, `stat` of `value` per cell, the pinned axes) and its style."""

    x: str = Field("d", pattern=AXIS)
    y: str = Field("phase1.n", pattern=AXIS)
    value: str = Field("test_mse", pattern=one_of(SEED_FIELDS), description="a per-seed field")
    stat: Literal["mean", "std", "ci95_low", "ci95_high", "n"] = "mean"
    where: Annotated[list[AxisValue] | None, WHERE] = None
    annotate: bool = True
    log_color: bool | None = Field(
        None, description="omitted: log when the values span more than a decade"
    )
    vmin: float | None = None
    vmax: float | None = None
    title: str | None = Field(None, max_length=200)


class ScalingPlotQuery(BaseModel):
    """Which group of the scaling fit to draw (its index among those `where` pins), and how."""

    threshold: Annotated[float | None, THRESHOLD] = None
    metric: str = Field("median_abs_m", pattern=one_of(TRACE_METRICS))
    x: str = Field("d", pattern=AXIS)
    group: int = Field(0, ge=0)
    where: Annotated[list[AxisValue] | None, WHERE] = None
    information_exponent: int | None = Field(None, ge=1, le=32)
    title: str | None = Field(None, max_length=200)
