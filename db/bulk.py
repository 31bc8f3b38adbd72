"""Many rows into one table in the session's transaction: PostgreSQL's COPY, else executemany.

A bulk submit stores 10^4 experiments with their tags and audit events. An executemany INSERT
is one statement per row to psycopg (pipelined, but each parsed, bound and executed on its own)
and took 0.15 ms a row; a multi-row INSERT … RETURNING is slower still in the driver. COPY sends
every row in one stream. The rows go through the columns' own bind processing (enums checked,
datetimes made UTC), so what is stored is what an INSERT of the same rows would store.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy.orm import Session


def insert_rows(table: Table, rows: Sequence[dict[str, Any]], *, session: Session) -> None:
    """Insert `rows` (dicts with the same keys) into `table`. A column the rows leave out gets
    its Python-side default, evaluated once for the whole call (one transaction, one time), or
    the server's (an id from its sequence)."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    names = list(rows[0])
    sql_defaults = any(
        column.default is not None and column.default.is_clause_element
        for column in table.columns
        if column.name not in names
    )
    if dialect.name != "postgresql" or sql_defaults:  # COPY cannot evaluate a SQL default
        session.execute(insert(table), rows)
        return
    defaults: dict[str, Any] = {}
    for column in table.columns:
        default: Any = column.default  # a ColumnDefault: scalar or callable `arg`
        if (
            column.name in names
            or default is None
            or not (default.is_scalar or default.is_callable)
        ):
            continue
        defaults[column.name] = default.arg if default.is_scalar else default.arg(None)
    columns = [table.c[name] for name in [*names, *defaults]]
    convert = [_converter(column, dialect) for column in columns]
    fixed = []
    for k, value in enumerate(defaults.values()):
        to_text = convert[len(names) + k]
        fixed.append(value if to_text is None else to_text(value))
    # Only the columns whose values need converting are touched row by row.
    converted = [
        (k, name, to_text)
        for k, (name, to_text) in enumerate(zip(names, convert[: len(names)], strict=True))
        if to_text is not None
    ]
    quote = dialect.identifier_preparer.quote
    statement = (
        f"COPY {quote(table.name)} ({', '.join(quote(column.name) for column in columns)}) "
        "FROM STDIN"
    )
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row in rows:
            values = [*(row[name] for name in names), *fixed]
            for k, name, to_text in converted:
                values[k] = to_text(row[name])
            copy.write_row(values)


def _converter(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """The column's value as COPY's text takes it: JSON serialized (once per distinct object:
    a batch's rows share their spec), else the type's bind processor, enums as their values."""
    if isinstance(column.type, JSON):
        dumps = getattr(dialect, "_json_serializer", None) or json.dumps
        texts: dict[int, tuple[Any, str]] = {}

        null = None if column.type.none_as_null else "null"  # SQLAlchemy's JSON: None is 'null'

        def to_json(value: Any) -> str | None:
            if value is None:
                return null
            seen = texts.get(id(value))
            if seen is None or seen[0] is not value:
                seen = texts[id(value)] = (value, dumps(value))
            return seen[1]

        return to_json
    process = column.type._cached_bind_processor(dialect)
    if process is None:
        return None  # as it is (an enum member of a column without a processor: its value)

    def plain(value: Any) -> Any:
        if value is not None:
            value = process(value)
        return value.value if isinstance(value, enum.Enum) else value

    return plain
