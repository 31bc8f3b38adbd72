"""Request and response bodies. Requests end in Create, responses in Public."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from trainer.results import METRICS
from trainer.spec import ExperimentSpec

Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\s,]+$"),
]
Status = Literal["queued", "running", "completed", "diverged", "failed", "cancelled"]
SORT_KEYS = (
    "id", "created_at", "d", "test_mse", "final_median_abs_m", "weak_recovery_samples",
    "wall_time_s",
)


class ExperimentCreate(BaseModel):
    """A submission: the spec and how to file it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200, description="free text shown in lists")
    tags: list[Tag] = Field(default_factory=list, max_length=32,
                            description="labels to filter by (no spaces or commas)")
    priority: int = Field(0, ge=-1000, le=1000, description="higher runs first")
    max_attempts: int = Field(3, ge=1, le=20,
                              description="claims allowed before a lost lease fails the run")
    spec: ExperimentSpec

    @field_validator("tags")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class SpecCreate(BaseModel):
    """A spec to validate; the other fields of a submission are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    spec: ExperimentSpec


class SpecValidationPublic(BaseModel):
    valid: bool = True
    spec: dict[str, Any] = Field(description="the spec with every default filled in")
    facts: dict[str, Any] = Field(
        description="information exponent, label power exponents, reuse exponent, resolved "
        "width and budgets, memory estimate (trainer.spec.ExperimentSpec.facts)"
    )
    spec_hash: str = Field(description="sha256 of the canonical JSON of the normalized spec")


class ExperimentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    owner: str
    tags: list[str] = Field(validation_alias="tag_names")
    priority: int
    status: Status
    spec: dict[str, Any]
    spec_hash: str
    target: str = Field(description="target label: 'h3', 'h3+h4' or 'hermite:3=0.5,4=0.8'")
    algorithm: str
    d: int
    width: int
    seeds: int
    attempt: int
    max_attempts: int
    worker: str | None
    cancel_requested: bool
    samples_done: int
    samples_total: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    dispatched_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    lease_expires_at: datetime | None
    final_mean_abs_m: float | None
    final_median_abs_m: float | None
    final_max_abs_m: float | None
    test_mse: float | None
    weak_recovery_samples: float | None
    weak_recovery_fraction: float | None
    wall_time_s: float | None
    samples_per_second: float | None
    device: str | None
    torch_version: str | None
    result: dict[str, Any] | None


class ExperimentsPublic(BaseModel):
    """One page of experiments; pass `next_cursor` as `cursor` for the next (null: last page)."""

    items: list[ExperimentPublic]
    next_cursor: str | None


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


class ErrorPublic(BaseModel):
    detail: str


class ValidationIssuePublic(BaseModel):
    loc: list[str | int] = Field(description='where, e.g. ["body","spec","phase1","stages",0,"lr"]')
    msg: str
    type: str


class ValidationErrorPublic(BaseModel):
    detail: list[ValidationIssuePublic]


class ReadinessPublic(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(description="'ok' or why each dependency failed")


TRACE_METRICS: tuple[str, ...] = tuple(METRICS)
