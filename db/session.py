"""Engine and sessionmaker factories. Nothing here runs at import: each process (API, worker,
a test) builds its own engine from a `DbSettings`.

SQLite (the embedded default) is opened in WAL mode with a 30 s busy timeout and foreign keys on,
so that the API and a worker process can share one file; PostgreSQL connections are pinged before
use, so that a restarted server does not fail the first request after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.orm import Session, sessionmaker

from db.config import DbSettings

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(settings: DbSettings | None = None) -> Engine:
    """An engine for `settings.url` (default: `DbSettings()` read from the environment).

    For a file SQLite database the parent folder is created first.
    """
    settings = settings or DbSettings()
    url = make_url(settings.url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=settings.echo_sql)
    return create_engine(
        url,
        echo=settings.echo_sql,
        # A connection that died with a server restart is noticed and replaced before use.
        pool_pre_ping=True,
        pool_size=settings.pool_size,
        pool_timeout=settings.pool_timeout_s,
        connect_args={"connect_timeout": settings.connect_timeout_s},
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep their objects readable after commit (the caller commits explicitly)."""
    return sessionmaker(engine, expire_on_commit=False)


def _sqlite_engine(url: Any, *, echo: bool) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        # The API serves from a thread pool; a connection is only ever used by one thread at a
        # time (the pool hands it out), so SQLite's same-thread check is only in the way.
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL makes NORMAL durable against application crashes; only power loss may lose the last
        # transactions, never corrupt the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched. `Session.execute` returns a CursorResult for them,
    though its annotation only promises a Result (which has no rowcount)."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"rowcount of a {type(result).__name__}: not an UPDATE or DELETE result")
    return result.rowcount
