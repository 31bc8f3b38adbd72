"""Filters on a spec field in SQL (`GET /experiments?spec=phase1.batch_size=1`), so that they
run over every row, not over one loaded page. The stored spec is JSON (defaults filled in); the
same filter reads the same on PostgreSQL and SQLite:

- `PATH` alone: the spec has that field (a JSON null counts as having it);
- `PATH=VALUE`: a number equals VALUE as a number (`1` matches 1 and 1.0, `1e-3` matches
  0.001), or the field's text equals VALUE (strings such as `0.3/d` and `reuse`, `true`/`false`).

Paths are dotted: `phase1.stages.0.lr`; a number is a list index or a key ("target.hermite.3").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, String, and_, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

_PART = re.compile(r"^(?:[A-Za-z_]\w*|\d+)$")


@dataclass(frozen=True)
class SpecMatch:
    path: tuple[str, ...]
    value: str | None  # None: the field is present

    @classmethod
    def parse(cls, text: str) -> SpecMatch:
        """'phase1.batch_size=1' or 'phase1.clip'; ValueError naming what is wrong."""
        path, sep, value = text.partition("=")
        parts = tuple(part.strip() for part in path.strip().split("."))
        if not all(_PART.match(part) for part in parts):
            raise ValueError(
                f"{path.strip()!r} is not a spec path (dotted names and indices, "
                "like phase1.stages.0.lr)"
            )
        return cls(parts, value.strip() if sep else None)

    def clause(self, column: Any) -> ColumnElement[bool]:
        if self.value is None:
            return SpecText(column, self.path, present=True).is_not(None)
        text = SpecText(column, self.path) == self.value
        number = _number(self.value)
        if number is None:
            return text
        return or_(SpecNumber(column, self.path) == number, text)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class _SpecField(FunctionElement[Any]):
    inherit_cache = False  # the path and mode live outside the bound parameters

    def __init__(self, column: Any, path: tuple[str, ...], *, present: bool = False) -> None:
        self.path = path
        self.present = present
        super().__init__(column)


class SpecText(_SpecField):
    """The field as text (a string as itself, a number as stored, true/false); NULL when absent.
    With present=True: any non-NULL value when the field exists."""

    type = String()
    inherit_cache = False


class SpecNumber(_SpecField):
    """The field's value when it is a JSON number, else NULL."""

    type = Float()
    inherit_cache = False


def _sqlite_paths(path: tuple[str, ...]) -> list[str]:
    # SQLite tells a list index ([0]) from an object key (."0"): try both when a part is a number.
    def render(index: bool) -> str:
        return "$" + "".join(
            f"[{part}]" if index and part.isdigit() else f'."{part}"' for part in path
        )

    forms = [render(True)]
    if any(part.isdigit() for part in path):
        forms.append(render(False))
    return forms


@compiles(SpecText, "postgresql")
def _text_postgresql(element: SpecText, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    path = "'{" + ",".join(element.path) + "}'"
    if element.present:
        return f"(({column}) #> {path})::text"
    return f"(({column}) #>> {path})"


@compiles(SpecNumber, "postgresql")
def _number_postgresql(element: SpecNumber, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    path = "'{" + ",".join(element.path) + "}'"
    return (
        f"(CASE WHEN json_typeof(({column}) #> {path}) = 'number' "
        f"THEN CAST(({column}) #>> {path} AS DOUBLE PRECISION) END)"
    )


def _sqlite_case(column: str, path: tuple[str, ...], value: str) -> str:
    """`value` (with {p} for the path) at the first path form where the field exists."""
    forms = _sqlite_paths(path)
    if len(forms) == 1:
        return value.format(p=f"'{forms[0]}'")
    whens = " ".join(
        f"WHEN json_type({column}, '{form}') IS NOT NULL THEN {value.format(p=repr(form))}"
        for form in forms
    )
    return f"(CASE {whens} END)"


@compiles(SpecText, "sqlite")
def _text_sqlite(element: SpecText, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    if element.present:
        return _sqlite_case(column, element.path, f"json_type({column}, {{p}})")
    value = (
        f"(CASE json_type({column}, {{p}}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        f"WHEN 'null' THEN NULL ELSE CAST(json_extract({column}, {{p}}) AS TEXT) END)"
    )
    return _sqlite_case(column, element.path, value)


@compiles(SpecNumber, "sqlite")
def _number_sqlite(element: SpecNumber, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    value = (
        f"(CASE WHEN json_type({column}, {{p}}) IN ('integer', 'real') "
        f"THEN json_extract({column}, {{p}}) END)"
    )
    return _sqlite_case(column, element.path, value)


def all_of(column: Any, matches: list[SpecMatch]) -> ColumnElement[bool]:
    return and_(*(match.clause(column) for match in matches))
