"""Sweeps' request and response bodies: the definition (base spec, axes, seeds), the sweep with
its progress, its cells and its scaling fit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic import Tag as Member
from pydantic.json_schema import JsonDict

from api.schemas.experiments import Tag, Text
from db.models import SweepStatus

AxisPath = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]\w*(\.\w+)*$", max_length=200)]


NULL: JsonDict = {"type": "null"}
RANGE = ("start", "stop", "num")


class AxisCreate(BaseModel):
    """One axis: a spec field path and its values, given as a list or as a range."""

    # The schema's form of `_one_form`: values, or a range (log2: both ends positive).
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["values"],
                    "properties": {"values": {"not": NULL}, **dict.fromkeys(RANGE, NULL)},
                },
                {
                    "required": list(RANGE),
                    "properties": {**{key: {"not": NULL} for key in RANGE}, "values": NULL},
                    "anyOf": [
                        {"properties": {"scale": {"const": "linear"}}},
                        {
                            "properties": {
                                "start": {"exclusiveMinimum": 0},
                                "stop": {"exclusiveMinimum": 0},
                            }
                        },
                    ],
                },
            ]
        },
    )

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


def _axis_form(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "zip" if isinstance(value, ZipAxisCreate) else "axis"
    return "zip" if isinstance(value, dict) and "zip" in value else "axis"


# An axis is a zip when it has a `zip` key: pydantic then validates that one form, and a
# mistake is reported against it alone (not against both forms).
Axis = Annotated[
    Annotated[AxisCreate, Member("axis")] | Annotated[ZipAxisCreate, Member("zip")],
    Discriminator(_axis_form),
]


class SweepCreate(BaseModel):
    """A base spec, the axes to vary and how to split seeds; see api/expand.py."""

    model_config = ConfigDict(extra="forbid")

    name: Text = ""
    tags: list[Tag] = Field(
        default_factory=list, max_length=32, description="given to every experiment of the sweep"
    )
    priority: int = Field(0, ge=-1000, le=1000)
    max_attempts: int = Field(3, ge=1, le=20)
    base: dict[str, Any] = Field(
        description="an experiment spec; the axes override its fields "
        "(it need not be valid on its own)"
    )
    axes: list[Axis] = Field(
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
    status: SweepStatus = Field(
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
        "api.scaling_fit(...)}"
    )
