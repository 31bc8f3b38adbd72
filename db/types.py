"""Column types shared by the models."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import TIMESTAMP, Enum
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """`TIMESTAMP WITH TIME ZONE` that takes and gives timezone-aware UTC datetimes everywhere.

    PostgreSQL stores an instant and returns it aware. SQLite has no such type: SQLAlchemy writes
    the wall-clock digits as a string and drops the offset, so this type converts every value to
    UTC before writing (the strings then sort, and compare in SQL, like the instants they stand
    for) and attaches UTC again when reading. A naive datetime is refused rather than guessed.
    """

    impl = TIMESTAMP(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else stored_utc(value)


# The clock: db, api and worker read the time only through these.
def utcnow() -> datetime:
    """The current time, timezone-aware UTC (a zero-argument column default)."""
    return datetime.now(UTC)


def now_utc(now: datetime | None = None) -> datetime:
    """`now` as aware UTC, the current time when None: the `now=` argument of the queue's and the
    scheduler's queries, which tests pass to set the clock."""
    return utcnow() if now is None else as_utc(now)


def as_utc(value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is refused rather than guessed at."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
    return value.astimezone(UTC)


def stored_utc(value: datetime) -> datetime:
    """A datetime read from the database in UTC: SQLite gives the UTC digits back naive."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(kind: type[enum.StrEnum], *, check: str | None = None) -> Enum:
    """A column type for a StrEnum: its values in a VARCHAR(16), read back as members; writing a
    value that is not a member raises before any SQL is sent.

    Not a native PostgreSQL ENUM (SQLite has none, and a new member would need ALTER TYPE).
    `check` names a CHECK constraint that holds the column to the members in the database too
    (ck_<table>_<check> by the naming convention), for SQL that does not go through the ORM. A
    migration must add it: on SQLite that rebuilds the table, with foreign keys off (see
    migrations/versions/2026-12-01_status_check.py), and a new member needs a migration."""
    return Enum(
        kind,
        native_enum=False,
        create_constraint=check is not None,
        name=check,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
