"""The spec's building blocks: the strict base model, the 422 types of rules the schema cannot
state, and the number-or-expression field types with their bounds."""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import JsonDict
from pydantic_core import PydanticCustomError

from trainer import expr

Expr = int | float | str
"""A number or an expression in d and N."""


class Unstated(enum.StrEnum):
    """The `type` of a 422 issue for a rule JSON Schema cannot state, so the OpenAPI document
    cannot carry it (tests/api/test_schemathesis.py accepts exactly these as rejections of
    schema-valid requests). Every other rule is in the schema."""

    cross_field = "cross_field"  # one field's value against another's (θ's length and d)
    expression = "expression"  # an expression's grammar, or its value at the spec's d and N
    # What the addressed resource holds (an axis this sweep does not have), like a 404.
    resource = "resource"


# Largest magnitude of a Hermite coefficient or a θ entry, and largest resolved budget: beyond
# these a float32 run overflows (1e308 made a meaningless `completed` with test_mse 0) and a
# sample count no longer fits a BIGINT or finishes in a lifetime.
MAX_COEFFICIENT = 1e6
MAX_COUNT = 2**53


class Strict(BaseModel):
    # allow_inf_nan=False: NaN, Infinity and 1e309 (which JSON parsers read as inf) are refused
    # in every float field with a 422 naming it, instead of a 500 or a database error later.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def check_expr(value: Expr) -> Expr:
    if isinstance(value, bool):
        raise ValueError("expected a number or an expression in d and N")
    if isinstance(value, str):
        try:
            expr.check(value)
        except ValueError as error:
            raise PydanticCustomError(Unstated.expression.value, str(error)) from None
    return value


# The characters of an expression (trainer/expr.py: numbers, names, + - * / **, parentheses and
# the commas of min/max): the schema says that much; the grammar and the value are Unstated.
Expression = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[0-9A-Za-z_.+*/(), -]+$")
]


# A number within bounds, or an expression (whose value is checked against the same bounds once d
# and N are known, resolve()). Integers stay integers.
EXPR = "a number or an expression in d and N"
# Budgets and sizes: at least 1 (a count rounds to an integer) and at most 2^53.
Count = Annotated[
    Annotated[int, Field(ge=1, le=MAX_COUNT)]
    | Annotated[float, Field(ge=1, le=MAX_COUNT)]
    | Expression,
    Field(description=EXPR),
]
# Phase II's ridge fit needs at least 10 samples.
RidgeCount = Annotated[
    Annotated[int, Field(ge=10, le=MAX_COUNT)]
    | Annotated[float, Field(ge=10, le=MAX_COUNT)]
    | Expression,
    Field(description=EXPR),
]
# Step sizes: at least 0.
Rate = Annotated[
    Annotated[int, Field(ge=0)] | Annotated[float, Field(ge=0)] | Expression,
    Field(description=EXPR),
]


# JSON keys of a Hermite coefficient map: the degrees, written plainly ("3", not "03").
DEGREES_TO_32: JsonDict = {"pattern": r"^([0-9]|[12][0-9]|3[0-2])$"}
DEGREES_TO_16: JsonDict = {"pattern": r"^([0-9]|1[0-6])$"}
Coefficient = Annotated[float, Field(ge=-MAX_COEFFICIENT, le=MAX_COEFFICIENT)]


def not_above(low: float, high: float, message: str) -> None:
    """A cross-field rule the schema cannot state: `low` must not exceed `high`."""
    if low > high:
        raise PydanticCustomError(Unstated.cross_field.value, message)
