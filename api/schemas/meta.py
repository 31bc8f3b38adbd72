"""GET /meta: what the API's names mean (metrics, results, spec paths), for the dashboard."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class MetricPublic(BaseModel):
    name: str
    label: str
    kind: Literal["overlap", "loss"]
    log_scale: bool = Field(description="drawn on a log axis (values span decades)")
    better: Literal["higher", "lower"]


class FieldPublic(BaseModel):
    name: str
    label: str
    log_scale: bool
    better: Literal["higher", "lower"]


class MetaPublic(BaseModel):
    metrics: list[MetricPublic] = Field(description="the metrics of a trace, in display order")
    default_metric: str = Field(description="the metric drawn when none is chosen")
    fields: list[FieldPublic] = Field(description="per-experiment and per-seed results")
    cell_fields: list[str] = Field(description="results a sweep's cells aggregate over seeds")
    cell_columns: list[str] = Field(description="the cell fields a sweep's table shows")
    sort_keys: list[str] = Field(description="what GET /experiments sorts by")
    labels: dict[str, str] = Field(description="readable names of metrics, results, spec paths")
