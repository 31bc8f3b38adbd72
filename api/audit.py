"""The audit log: who submitted, cancelled, retried or deleted what, and the account changes made
with silab-admin. An event is added to the session of the change it records, never committed
on its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from db import bulk
from db.models import AuditEvent
from db.types import utcnow


def record(
    action: str,
    *,
    session: Session,
    actor: str,
    experiment_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an event to the session: it is committed with the change it records, or not at all."""
    event = AuditEvent(
        actor=actor,
        action=action,
        experiment_id=experiment_id,
        detail=detail or {},
        created_at=utcnow(),
    )
    session.add(event)
    return event


def record_each(
    action: str,
    *,
    session: Session,
    actor: str,
    experiment_ids: Sequence[int],
    details: Sequence[dict[str, Any]],
) -> None:
    """One event per experiment, inserted in one go in the session's transaction (db.bulk: a
    bulk submit's thousands of events)."""
    now = utcnow()
    rows = [
        {"actor": actor, "action": action, "experiment_id": i, "detail": d, "created_at": now}
        for i, d in zip(experiment_ids, details, strict=True)
    ]
    bulk.insert_rows(cast(Table, AuditEvent.__table__), rows, session=session)  # not the ORM's


def events(
    *,
    session: Session,
    actor: str | None,
    action: str | None,
    experiment_id: int | None,
    limit: int,
    before_id: int | None,
) -> tuple[list[AuditEvent], int | None]:
    """Newest first; keyset pages by id. Returns (events, the id to pass as `before_id` next)."""
    query = select(AuditEvent)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if experiment_id is not None:
        query = query.where(AuditEvent.experiment_id == experiment_id)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    rows = list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    next_id = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_id
