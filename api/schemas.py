"""Request and response bodies. Requests end in Create, responses in Public."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from trainer.results import METRICS
from trainer.spec import ExperimentSpec

Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\s,]+$"),
]
Status = Literal["queued", "running", "completed", "diverged", "failed", "cancelled"]
SORT_KEYS = (
    "id",
    "created_at",
    "d",
    "test_mse",
    "final_median_abs_m",
    "weak_recovery_samples",
    "held_recovery_samples",
    "held_recovery_fraction",
    "wall_time_s",
)


# Named priority levels (the column stores the integer).
PRIORITY_LEVELS = {"low": -10, "normal": 0, "high": 10}
PriorityName = Literal["low", "normal", "high"]


class ExperimentCreate(BaseModel):
    """A submission: the spec and how to file it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200, description="free text shown in lists")
    tags: list[Tag] = Field(
        default_factory=list, max_length=32, description="labels to filter by (no spaces or commas)"
    )
    priority: Annotated[int, Field(ge=-1000, le=1000)] | PriorityName = Field(
        0,
        description="higher runs first: low (-10), normal (0), high (10) or an integer; "
        "users take turns within one priority",
    )
    max_attempts: int = Field(
        3, ge=1, le=20, description="claims allowed before a lost lease fails the run"
    )
    spec: ExperimentSpec

    @field_validator("tags")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @field_validator("priority")
    @classmethod
    def _level(cls, value: int | str) -> int:
        return PRIORITY_LEVELS[value] if isinstance(value, str) else value


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
    held_recovery_samples: float | None = Field(
        None, description="median over seeds of held recovery; None when censored"
    )
    held_recovery_fraction: float | None = None
    wall_time_s: float | None
    samples_per_second: float | None
    device: str | None
    torch_version: str | None
    result: dict[str, Any] | None


class ExperimentsPublic(BaseModel):
    """One page of experiments; pass `next_cursor` as `cursor` for the next (null: last page)."""

    items: list[ExperimentPublic]
    next_cursor: str | None

    @classmethod
    def of(cls, rows: Sequence[Any], next_cursor: str | None) -> ExperimentsPublic:
        """The page of these Experiment rows."""
        return cls(
            items=[ExperimentPublic.model_validate(row) for row in rows], next_cursor=next_cursor
        )


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


# ------------------------------------------------------------------------------------ sweeps
AxisPath = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]\w*(\.\w+)*$", max_length=200)]


class AxisCreate(BaseModel):
    """One axis: a spec field path and its values, given as a list or as a range."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    path: AxisPath = Field(
        description='a spec field: "d", "phase1.n", "phase1.stages.0.lr", "target", "model.width"'
    )
    values: list[Any] | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description='values (numbers, expressions in d and N such as "16*d", or objects)',
    )
    start: int | float | None = Field(None, description="range: first value")
    stop: int | float | None = Field(None, description="range: last value (included)")
    num: int | None = Field(None, ge=1, le=1000, description="range: number of values")
    scale: Literal["linear", "log2"] = Field("linear", description="range: spacing")

    @model_validator(mode="after")
    def _one_form(self) -> AxisCreate:
        ranged = (self.start, self.stop, self.num)
        if self.values is not None:
            if any(v is not None for v in ranged):
                raise ValueError("give either 'values' or a range (start, stop, num), not both")
        elif any(v is None for v in ranged):
            raise ValueError("give 'values' or all of 'start', 'stop' and 'num'")
        elif self.scale == "log2" and (self.start <= 0 or self.stop <= 0):  # type: ignore[operator]
            raise ValueError("a log2 range needs start > 0 and stop > 0")
        return self


class ZipAxisCreate(BaseModel):
    """Axes that advance together (same number of values): one dimension of the grid."""

    model_config = ConfigDict(extra="forbid")

    zip: list[AxisCreate] = Field(min_length=1, max_length=16)


class SweepCreate(BaseModel):
    """A base spec, the axes to vary and how to split seeds; see api/expand.py."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200)
    tags: list[Tag] = Field(
        default_factory=list, max_length=32, description="given to every experiment of the sweep"
    )
    priority: int = Field(0, ge=-1000, le=1000)
    max_attempts: int = Field(3, ge=1, le=20)
    base: dict[str, Any] = Field(
        description="an experiment spec; the axes override its fields "
        "(it need not be valid on its own)"
    )
    axes: list[AxisCreate | ZipAxisCreate] = Field(
        default_factory=list,
        max_length=16,
        description="in order, the last varying fastest; also accepted as a mapping "
        '{"d": [16, 32], "phase1.n": {"start": 64, "stop": 1024, "num": 5, '
        '"scale": "log2"}}',
    )
    seeds: int | None = Field(
        None, ge=1, le=4096, description="seeds per cell (default: the base spec's)"
    )
    seeds_per_experiment: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="split each cell's seeds over experiments of this many seeds (they differ "
        "only in seed and are aggregated together); default: one experiment",
    )

    @field_validator("axes", mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [
                {"path": path, **(spec if isinstance(spec, dict) else {"values": spec})}
                for path, spec in value.items()
            ]
        return value

    @field_validator("tags")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class SweepPublic(BaseModel):
    id: int
    name: str
    owner: str
    sweep_hash: str
    status: Literal["queued", "running", "completed", "finished", "cancelled"] = Field(
        description="queued/running while any experiment is; then completed (all completed), "
        "cancelled (the sweep was cancelled) or finished (some diverged or failed)"
    )
    axes: list[str] = Field(description="the axis paths, the keys of every cell")
    cells: int
    experiments_total: int
    progress: dict[str, int] = Field(description="experiments by status")
    samples_done: int
    samples_total: int
    cancel_requested: bool
    definition: dict[str, Any] = Field(description="the sweep as submitted")
    created_at: datetime
    updated_at: datetime


class SweepsPublic(BaseModel):
    items: list[SweepPublic]
    next_cursor: str | None


class SweepCellsPublic(BaseModel):
    """Per cell: the axis values, and for each field mean, std, ci95_low, ci95_high, n and
    n_missing over every seed of every experiment of the cell (api/aggregate.summarize)."""

    sweep_id: int
    axes: list[str]
    fields: list[str]
    cells: list[dict[str, Any]]


class ScalingPublic(BaseModel):
    sweep_id: int
    x: str
    metric: str
    threshold: float | None = Field(description="None: each run's own weak_recovery_samples")
    groups: list[dict[str, Any]] = Field(
        description="one per combination of the other axes: {key: {path: value}, fit: "
        "api.aggregate.scaling_fit(...)}"
    )


# ---------------------------------------------------------------------------------- accounts
class MePublic(BaseModel):
    """Who the key belongs to, the limits that apply and how much of them is in use."""

    name: str
    role: Literal["admin", "member"]
    key_prefix: str
    key_expires_at: datetime | None
    max_running: int | None = Field(description="the user's own or the lab default; null: none")
    max_queued: int | None = Field(description="the user's own or the lab default; null: none")
    running: int
    queued: int


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor: str
    action: str
    experiment_id: int | None
    detail: dict[str, Any]


class AuditPublic(BaseModel):
    """Newest first; pass `next_cursor` as `cursor` for older events (null: last page)."""

    items: list[AuditEventPublic]
    next_cursor: str | None


class PositionPublic(BaseModel):
    """A queued experiment's place in line: an estimate from the current state, assuming
    nothing else is submitted and users keep taking turns."""

    experiment_id: int
    status: Status
    in_flight: bool = Field(description="sent to the broker; waits for a worker to claim it")
    position: int | None = Field(description="1 = sent next; null when not waiting")
    ahead_higher_priority: int
    ahead_same_priority: int = Field(
        description="other users' turns and the owner's own older ones"
    )
    slots: int = Field(description="worker slots in the pool (SILAB_WORKER_SLOTS)")
    busy_slots: int
    owner_busy: int = Field(description="the owner's running and sent experiments")
    owner_max_running: int | None
    waiting_for: list[str] = Field(
        description='any of "worker slots" (all busy), "running '
        'limit" (the owner is at max_running), "higher '
        'priority", "turn" (others at this priority go '
        'first), "a worker to claim it"'
    )
