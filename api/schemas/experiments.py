"""Experiments' request and response bodies: submission, validation, the experiment, its trace and
the page of them. Requests end in Create, responses in Public."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from db.models import SORTED_NOT_NULL, SORTED_NULLABLE, Algorithm, Status
from trainer.spec import ExperimentSpec

# Whitespace as every regex engine here means it, spelled out: Python's, pydantic's (Rust) and
# JSON Schema's (ECMA) \s differ (\x1c-\x1f, \x85, \ufeff), and the schema and the validator
# must agree on what a tag may hold.
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
Tag = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=rf"^[^{SPACE},\x00]+$"
    ),
]
# Free text: anything but NUL, which PostgreSQL's text type cannot hold.
Text = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")]
# The sort keys of GET /experiments: the id and the columns db.models indexes for sorting.
SORT_KEYS = ("id", *SORTED_NOT_NULL, *SORTED_NULLABLE)


# Named priority levels (the column stores the integer).
PRIORITY_LEVELS = {"low": -10, "normal": 0, "high": 10}
PriorityName = Literal["low", "normal", "high"]


def priority_level(value: int | str) -> int:
    """A level name's number (the column stores the integer)."""
    return PRIORITY_LEVELS[value] if isinstance(value, str) else value


Priority = Annotated[int, Field(ge=-1000, le=1000)] | PriorityName


class PriorityChange(BaseModel):
    """A new priority for queued experiments (POST /experiments/{id}/priority, and a sweep's)."""

    model_config = ConfigDict(extra="forbid")

    priority: Priority = Field(
        description="low (-10), normal (0), high (10) or an integer in [-1000, 1000]"
    )
    _level = field_validator("priority")(classmethod(lambda cls, v: priority_level(v)))


class ExperimentCreate(BaseModel):
    """A submission: the spec and how to file it."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field("", description="free text shown in lists")
    tags: list[Tag] = Field(
        default_factory=list, max_length=32, description="labels to filter by (no spaces or commas)"
    )
    priority: Priority = Field(
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

    _level = field_validator("priority")(classmethod(lambda cls, v: priority_level(v)))


class ExperimentBatchCreate(BaseModel):
    """Many submissions in one request (POST /experiments:batch): validated as a whole, stored in
    one transaction or not at all. The most items: SILAB_MAX_BATCH."""

    model_config = ConfigDict(extra="forbid")

    items: list[ExperimentCreate] = Field(min_length=1, description="the submissions, in order")

    @field_validator("items", mode="before")
    @classmethod
    def _one_spec_per_shape(cls, value: Any) -> Any:
        """Validate each distinct spec once: a sweep's thousands of items mostly repeat a few
        specs, and a spec's validation (every expression evaluated, the memory estimate) was
        most of a batch's time. Items with equal specs get one shared ExperimentSpec, which
        pydantic takes as it is; a spec that fails is left as sent, so the item-by-item
        validation after this one names every broken item and field as before."""
        if not isinstance(value, list):
            return value
        validated: dict[str, ExperimentSpec | None] = {}
        out = []
        for item in value:
            spec = item.get("spec") if isinstance(item, dict) else None
            key = _spec_key(spec)
            if key is None:
                out.append(item)
                continue
            if key not in validated:
                try:
                    validated[key] = ExperimentSpec.model_validate(spec)
                except ValidationError:
                    validated[key] = None
            shared = validated[key]
            out.append(item if shared is None else {**item, "spec": shared})
        return out


def _spec_key(spec: Any) -> str | None:
    """Equal keys, equal specs as sent (json keeps 1, 1.0 and true apart); None: not a JSON
    object, left to the item's own validation."""
    if not isinstance(spec, dict):
        return None
    try:
        return json.dumps(spec, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError):  # keys of mixed types
        return None


class ExperimentBatchPublic(BaseModel):
    """What a batch created: the experiments' ids in the order of the items."""

    ids: list[int]
    count: int


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
    algorithm: Algorithm
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
