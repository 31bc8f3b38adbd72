"""What the service tests share: principals from real keys, settings, a dispatcher that records
when it ran, and an audit log that refuses writes (a real trigger in the real database)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from api import accounts
from api.accounts import Principal
from api.config import ApiSettings
from api.services.context import Context
from db.models import AuditEvent, Experiment


def principal_of(sessions: sessionmaker[Session], key: str) -> Principal:
    with sessions() as session:
        found = accounts.authenticate(key, session=session)
    assert found is not None
    return found


def settings(tmp_path: Path, **overrides: Any) -> ApiSettings:
    overrides.setdefault("rate_limit_per_s", 0)
    overrides.setdefault("bootstrap_admin", False)
    return ApiSettings(data_dir=tmp_path / "data", **overrides)


def context(
    session: Session,
    principal: Principal,
    settings: ApiSettings,
    dispatch: Callable[[], object] | None = None,
) -> Context:
    """A service call's request context; the doorbell rings nobody unless `dispatch` is given."""
    return Context(session, principal, settings, dispatch or (lambda: None))


class Dispatch:
    """A dispatcher stand-in that records, each time it runs, which experiments another session
    sees: what was committed before the round."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.seen: list[list[int]] = []

    def __call__(self) -> None:
        with self.sessions() as session:
            self.seen.append(list(session.scalars(select(Experiment.id).order_by(Experiment.id))))


def count(sessions: sessionmaker[Session], model: type, *where: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def audit_actions(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


@contextmanager
def audit_log_down(engine: Engine) -> Iterator[None]:
    """Every INSERT into audit_event fails inside the database, as a full disk or a revoked grant
    would make it, until the block ends."""
    if engine.dialect.name == "postgresql":
        create = [
            (
                "CREATE FUNCTION silab_audit_down() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'the audit log is down'; END $$"
            ),
            (
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_event "
                "FOR EACH ROW EXECUTE FUNCTION silab_audit_down()"
            ),
        ]
        drop = ["DROP TRIGGER audit_down ON audit_event", "DROP FUNCTION silab_audit_down()"]
    else:
        create = [
            (
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'the audit log is down'); END"
            )
        ]
        drop = ["DROP TRIGGER audit_down"]
    with engine.begin() as connection:
        for statement in create:
            connection.execute(text(statement))
    try:
        yield
    finally:
        with engine.begin() as connection:
            for statement in drop:
                connection.execute(text(statement))
