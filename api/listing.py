"""Keyset pages of experiments: filters, a sort on one column (NULLs last either way) and an
opaque cursor, so every page costs the same however deep it is.

Helpers take the session keyword-only; the caller commits.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select, tuple_
from sqlalchemy.orm import Session

from api.spec_filter import SpecMatch, all_of
from db.models import Algorithm, Experiment, ExperimentTag, Status

# Sort keys and whether the column can be NULL (nullable ones sort NULLs last either way).
SORTABLE: dict[str, tuple[Any, bool]] = {
    "id": (Experiment.id, False),
    "created_at": (Experiment.created_at, False),
    "d": (Experiment.d, False),
    "test_mse": (Experiment.test_mse, True),
    "final_median_abs_m": (Experiment.final_median_abs_m, True),
    "weak_recovery_samples": (Experiment.weak_recovery_samples, True),
    "held_recovery_samples": (Experiment.held_recovery_samples, True),
    "held_recovery_fraction": (Experiment.held_recovery_fraction, True),
    "wall_time_s": (Experiment.wall_time_s, True),
}


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class Sort:
    key: str
    descending: bool

    @classmethod
    def parse(cls, text: str) -> Sort:
        """'test_mse' (ascending) or '-test_mse' (descending); ValueError on an unknown key."""
        descending = text.startswith("-")
        key = text.removeprefix("-").removeprefix("+")
        if key not in SORTABLE:
            raise ValueError(
                f"cannot sort by {key!r}; use one of {', '.join(SORTABLE)} "
                "(prefix '-' for descending)"
            )
        return cls(key, descending)

    @property
    def column(self) -> Any:
        return SORTABLE[self.key][0]

    @property
    def nullable(self) -> bool:
        return SORTABLE[self.key][1]


@dataclass
class Filters:
    status: list[Status] | None = None
    owner: str | None = None
    tag: list[str] | None = None
    target: str | None = None
    algorithm: Algorithm | None = None
    d_min: int | None = None
    d_max: int | None = None
    name: str | None = None
    # Held recovery: median samples at most this (censored medians never match), fraction ≥ this.
    held_recovery_samples_max: float | None = None
    held_recovery_fraction_min: float | None = None
    # Experiments a sweep expanded; spec fields (api.spec_filter), every one must match.
    sweep: int | None = None
    spec: list[SpecMatch] | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.status:
            out.append(Experiment.status.in_(self.status))
        if self.owner is not None:
            out.append(Experiment.owner == self.owner)
        for tag in self.tag or ():
            out.append(
                exists().where(
                    ExperimentTag.experiment_id == Experiment.id, ExperimentTag.tag == tag
                )
            )
        if self.target is not None:
            out.append(Experiment.target == self.target)
        if self.algorithm is not None:
            out.append(Experiment.algorithm == self.algorithm)
        if self.d_min is not None:
            out.append(Experiment.d >= self.d_min)
        if self.d_max is not None:
            out.append(Experiment.d <= self.d_max)
        if self.held_recovery_samples_max is not None:
            out.append(Experiment.held_recovery_samples <= self.held_recovery_samples_max)
        if self.held_recovery_fraction_min is not None:
            out.append(Experiment.held_recovery_fraction >= self.held_recovery_fraction_min)
        if self.sweep is not None:
            out.append(Experiment.sweep_id == self.sweep)
        if self.spec:
            out.append(all_of(Experiment.spec, self.spec))
        if self.name:
            escaped = self.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            out.append(func.lower(Experiment.name).like(f"%{escaped.lower()}%", escape="\\"))
        return out


def encode_cursor(sort: Sort, experiment: Experiment) -> str:
    value = getattr(experiment, sort.key)
    if isinstance(value, datetime):
        value = value.isoformat()
    payload = json.dumps({"k": sort.key, "v": value, "i": experiment.id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(sort: Sort, cursor: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key, value, last_id = payload["k"], payload["v"], int(payload["i"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise BadCursor("the cursor is not one this API issued") from error
    if key != sort.key:
        raise BadCursor(
            f"the cursor belongs to sort {key!r}, not {sort.key!r}; start again without a cursor"
        )
    try:
        if sort.key == "created_at":
            value = datetime.fromisoformat(value)
        elif value is not None and not isinstance(value, int | float):
            raise TypeError(value)
    except (TypeError, ValueError) as error:
        raise BadCursor("the cursor is not one this API issued") from error
    if value is None and not sort.nullable:
        raise BadCursor("the cursor is not one this API issued")
    return value, last_id


def list_experiments(
    *,
    session: Session,
    filters: Filters,
    sort: Sort,
    limit: int,
    cursor: str | None,
) -> tuple[list[Experiment], str | None]:
    """One page in (sort column NULLS LAST, id) order and the cursor of the next page. Keyset
    pagination: each page costs the same however deep it is."""
    rows: list[Experiment] = []
    for query in page_queries(filters, sort, cursor=cursor):
        rows.extend(session.scalars(query.limit(limit + 1 - len(rows))))
        if len(rows) > limit:
            break
    next_cursor = encode_cursor(sort, rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def list_query(filters: Filters, sort: Sort, *, cursor: str | None, limit: int) -> Any:
    """The first SELECT of one page (tests/api/test_list_indexes.py EXPLAINs it at 10^5 rows)."""
    return page_queries(filters, sort, cursor=cursor)[0].limit(limit)


def page_queries(filters: Filters, sort: Sort, *, cursor: str | None) -> list[Any]:
    """The SELECTs of a page, run in order until it is full: one, or after a cursor with a value
    in a nullable column, the rest of the non-NULL rows and then the NULL tail (NULLS LAST).

    After a cursor each is one index range from the cursor on: a row comparison
    `(column, id) < (value, id)` starts the scan at the cursor, where the equivalent `column <
    value OR (column = value AND id < last) OR column IS NULL` made PostgreSQL walk the index
    from its start and filter, so a page in the middle of 2.8·10^5 rows (of 10^6) took 5.9 s."""
    query = select(Experiment).where(*filters.clauses())
    column, ident = sort.column, Experiment.id
    by_id = ident.desc() if sort.descending else ident.asc()
    order = column.desc() if sort.descending else column.asc()
    if sort.nullable:
        order = order.nulls_last()
    if sort.key == "id":
        if cursor:
            _, last_id = decode_cursor(sort, cursor)
            query = query.where(ident < last_id if sort.descending else ident > last_id)
        return [query.order_by(by_id)]
    if not cursor:
        return [query.order_by(order, by_id)]
    value, last_id = decode_cursor(sort, cursor)
    # The NULL tail is ordered by id alone, but spelled in the index's full order, so that
    # PostgreSQL scans that index's NULL range instead of the primary key with a filter.
    tail = query.where(column.is_(None))
    if value is None:  # already in the NULL tail: only ids remain to order by
        after_id = ident < last_id if sort.descending else ident > last_id
        return [tail.where(after_id).order_by(order, by_id)]
    key, after = tuple_(column, ident), tuple_(value, last_id)
    head = query.where(key < after if sort.descending else key > after).order_by(order, by_id)
    return [head, tail.order_by(order, by_id)] if sort.nullable else [head]
