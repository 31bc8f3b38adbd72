"""Locks that make a check-then-write exact under concurrent requests, on both databases. Each is
held until the caller commits or rolls back.

PostgreSQL has row and table locks. SQLite has one writer at a time and no row locks, and pysqlite
opens a transaction only at the first write, so a count read before the first INSERT is read
outside any transaction and two requests can both act on it. There the lock is a write that
changes nothing: it makes this transaction the database's writer now (waiting up to the busy
timeout for the one before it), so that what it reads next no one else changes before it commits.
"""

from __future__ import annotations

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from db.models import Account


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _sqlite_writer(session: Session) -> None:
    # Matches no row; SQLite takes the write lock at the start of any UPDATE all the same.
    session.execute(update(Account).where(Account.id == -1).values(disabled=Account.disabled))


def lock_writer(*, session: Session) -> None:
    """SQLite only: make this transaction the writer now (a no-op elsewhere, where rows and
    sequences have their own locks)."""
    if _is_sqlite(session):
        _sqlite_writer(session)


def lock_account(name: str, *, session: Session) -> None:
    """Serialize the callers that act on `name`'s account (its queued limit): PostgreSQL locks its
    row (FOR NO KEY UPDATE: api_key rows referencing it may still be inserted), SQLite the whole
    database. An unknown name locks nothing on PostgreSQL."""
    if _is_sqlite(session):
        _sqlite_writer(session)
        return
    session.execute(select(Account.id).where(Account.name == name).with_for_update(key_share=True))


def lock_account_table(*, session: Session) -> None:
    """Serialize account creation against "are there any accounts yet?" (the first-start admin):
    readers go on, a second creator waits for this transaction to end."""
    if _is_sqlite(session):
        _sqlite_writer(session)
        return
    session.execute(text("LOCK TABLE account IN SHARE ROW EXCLUSIVE MODE"))
