"""Alembic environment. The URL comes from db.config.DbSettings, never from alembic.ini.

A caller that already holds a connection (the test fixtures) passes it as
`config.attributes["connection"]`; otherwise an engine is built with db.session.make_engine.

On SQLite the migrations run with foreign keys off, as Alembic's batch mode needs: a batch copy
drops the old table, and with foreign keys on that DROP deletes every row referencing it (ON
DELETE CASCADE). `PRAGMA foreign_key_check` must then find nothing before the commit. The
connection is left that way; both callers dispose of its engine right after migrating.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

import db.models  # noqa: F401  (registers the tables on Base.metadata)
from db.base import Base
from db.config import DbSettings
from db.session import make_engine
from db.types import UtcDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our UtcDateTime as the plain column type it stores, so that a migration does not
    depend on application code that may change later."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.TIMESTAMP(timezone=True)"
    return False


def for_dialect(name: str) -> Any:
    """Alembic's include_object: leave out what the models create on another dialect only
    (`Index(...).ddl_if(dialect=...)`), so autogenerate on SQLite does not ask for it."""

    def include(obj: Any, _name: Any, _type: str, _reflected: bool, _compare_to: Any) -> bool:
        wanted = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        return wanted is None or wanted == name

    return include


def configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        include_object=for_dialect(connection.dialect.name),
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
    )


def run_migrations_offline() -> None:
    url = DbSettings().url
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
        render_as_batch=url.startswith("sqlite"),
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def migrate(connection: Connection) -> None:
    configure(connection)
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Only outside a transaction (SQLite ignores it inside one): before the first write.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"the migrations broke foreign keys: {broken[:10]}")


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        migrate(connection)
        return
    engine = make_engine(DbSettings())
    try:
        with engine.connect() as connection:
            migrate(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
