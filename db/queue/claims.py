"""The claim: the worker's first move, queued → running for one new attempt."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_
from sqlalchemy.orm import Session

from db.models import Experiment, Status
from db.queue.conditional import update_where
from db.types import now_utc as _now


def claim(
    experiment_id: int,
    *,
    session: Session,
    worker: str,
    lease_seconds: float,
    now: datetime | None = None,
) -> Experiment | None:
    """Start the next attempt of a queued experiment: status queued → running, attempt + 1,
    a lease until now + lease_seconds, started_at = now (the start of THIS attempt).

    Returns the experiment (fresh from the database; `.attempt` is the attempt to run), or None
    when it is not queued (already claimed by another delivery, cancelled, finished, unknown) or
    a cancel was requested. Commit at once: on PostgreSQL a concurrent claim waits on the row
    lock until then, and afterwards matches 0 rows.
    """
    now = _now(now)
    claimed = update_where(
        session,
        and_(
            Experiment.id == experiment_id,
            Experiment.status == Status.queued,
            Experiment.cancel_requested.is_(False),
        ),
        came_from=(Status.queued,),
        status=Status.running,
        attempt=Experiment.attempt + 1,
        worker=worker[:200],
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        heartbeat_at=now,
        started_at=now,
        finished_at=None,
        error=None,
        updated_at=now,
    )
    if not claimed:
        return None
    return session.get(Experiment, experiment_id, populate_existing=True)
