"""Query parameters that routes declare the same way, and the experiment list's filters, read
from the query string once (a dependency) for every route that lists experiments."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Query
from pydantic import BaseModel, Field, StringConstraints

from api.listing import Filters
from api.schemas import TRACE_METRICS
from api.services.errors import Invalid
from api.spec_filter import SpecMatch
from db.models import Algorithm, Status

MAX_INT = 2**31 - 1
MAX_STEP = 2**63 - 1
# Seeds lie in [0, 2^53) (trainer.spec.MAX_SEED): at most 16 digits.
SEED = "[0-9]{1,16}"
SEEDS = f"^( *{SEED}( *, *{SEED})* *)?$"


@dataclass(frozen=True)
class Choice:
    """The names a one_of pattern allows, and whether it is a sort key (a leading '-' sorts
    descending, '+' ascending)."""

    names: tuple[str, ...]
    sort: bool


# Every pattern one_of made, with its names: api.errors says a mismatch as the list of them
# instead of the regex (or parsing the regex back).
CHOICES: dict[str, Choice] = {}


def one_of(names: Iterable[str], *, sort: bool = False) -> str:
    """A pattern for exactly one of `names` (the schema's form of a check against a list);
    `sort`: a sort key, optionally signed."""
    choice = Choice(tuple(names), sort)
    pattern = ("^[-+]?(" if sort else "^(") + "|".join(map(re.escape, choice.names)) + ")$"
    CHOICES[pattern] = choice
    return pattern


def comma_separated(names: Iterable[str]) -> str:
    """A pattern for a comma-separated list of `names`, spaces around the commas allowed; an
    empty value means the default."""
    name = "(" + "|".join(map(re.escape, names)) + ")"
    return f"^( *{name}( *, *{name})* *)?$"


# A spec path as the dashboard and sweeps write it: dotted names and list indices.
PART = r"([A-Za-z_][A-Za-z0-9_]*|[0-9]+)"
PATH = rf"{PART}(\.{PART})*"
# An axis of a sweep (whether the sweep has it is the sweep's to say: a 422 of type
# trainer.spec.Unstated.resource).
AXIS = f"^{PATH}$"
# Filters on a sweep's axis values: `where=phase1.n=2000`.
WHERE = Query(description="AXIS=VALUE, repeatable")
AxisValue = Annotated[str, StringConstraints(pattern=f"^{PATH}=")]
# `spec=phase1.batch_size=1` or `spec=phase1.clip` (api.spec_filter.SpecMatch).
SpecMatchText = Annotated[str, StringConstraints(pattern=f"^ *{PATH} *(=.*)?$")]
# The weak-recovery threshold of the scaling fit and its plot.
THRESHOLD = Query(
    gt=0.0,
    lt=1.0,
    description="weak recovery = first Phase I point with `metric` "
    "≥ this (from the trace); omitted: each run's own weak_recovery_samples",
)


def experiment_filters(
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[list[str] | None, Query()] = None,
    target: Annotated[str | None, Query(max_length=100, description="e.g. h3, h3+h4")] = None,
    algorithm: Annotated[Algorithm | None, Query()] = None,
    d_min: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    d_max: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    name: Annotated[
        str | None, Query(max_length=200, description="substring, case-insensitive")
    ] = None,
    held_recovery_samples_max: Annotated[
        float | None,
        Query(ge=0, description="median held-recovery samples at most this (censored: never)"),
    ] = None,
    held_recovery_fraction_min: Annotated[
        float | None, Query(ge=0, le=1, description="fraction of seeds with held recovery")
    ] = None,
    sweep: Annotated[
        int | None, Query(ge=1, le=MAX_INT, description="experiments this sweep expanded")
    ] = None,
    spec: Annotated[
        list[SpecMatchText] | None,
        Query(
            description="PATH=VALUE on the stored spec (`phase1.batch_size=1`; a number matches "
            "numerically, anything else as text), or PATH alone: the spec has the field; "
            "repeatable, every one must match",
        ),
    ] = None,
) -> Filters:
    """Filters combine with AND; `status`, `tag` and `spec` may repeat (any status, every tag,
    every spec match)."""
    matches = []
    for text in spec or []:
        try:
            matches.append(SpecMatch.parse(text))
        except ValueError as error:
            raise Invalid.query("spec", str(error)) from error
    return Filters(
        status=list(status_ or []),
        owner=owner,
        tag=tag,
        target=target,
        algorithm=algorithm,
        d_min=d_min,
        d_max=d_max,
        name=name,
        held_recovery_samples_max=held_recovery_samples_max,
        held_recovery_fraction_min=held_recovery_fraction_min,
        sweep=sweep,
        spec=matches,
    )


FiltersDep = Annotated[Filters, Depends(experiment_filters)]


class TraceFilter(BaseModel):
    """Which points of an experiment's trace a request asks for: one query-string model, so the
    trace route hands the whole filter to api.services.traces.query_for at once."""

    metrics: str | None = Field(
        None,
        pattern=comma_separated(TRACE_METRICS),
        description=f"comma-separated, of {', '.join(TRACE_METRICS)}",
    )
    seeds: str | None = Field(None, pattern=SEEDS, description="comma-separated seeds; default all")
    phase: Literal["phase1", "phase2"] | None = None
    step_min: int | None = Field(None, ge=0, le=MAX_STEP)
    step_max: int | None = Field(None, ge=0, le=MAX_STEP)
