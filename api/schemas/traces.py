"""An experiment's evaluation trace as JSON rows, and the metrics a trace holds."""

from __future__ import annotations

from pydantic import BaseModel, Field

from trainer.results import METRICS

TRACE_METRICS: tuple[str, ...] = tuple(METRICS)


class TracePointPublic(BaseModel):
    seed: int
    phase: str
    step: int
    samples: int
    values: dict[str, float | None] = Field(description="the requested metrics at this point")


class TracePublic(BaseModel):
    experiment_id: int
    metrics: list[str]
    total_points: int = Field(description="points matching the filters before downsampling")
    downsampled: bool
    points: list[TracePointPublic] = Field(description="ordered by seed, phase, step")
