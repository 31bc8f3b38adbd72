"""A stopping worker's hand-back (worker/group.py): running → queued without using an attempt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_
from sqlalchemy.orm import Session

from db.models import Experiment, Status
from db.queue.conditional import running_attempt, update_where
from db.types import now_utc as _now


def release(
    experiment_id: int, *, session: Session, attempt: int, now: datetime | None = None
) -> bool:
    """Give a running attempt back to the queue because its worker is stopping (not dying):
    running → queued with worker, lease and dispatched_at cleared (the dispatcher re-sends it and
    the next attempt resumes from the checkpoint), and max_attempts + 1, so that stopping workers
    (a deploy) never uses up a run's attempts. With a cancel requested → cancelled instead.
    False when this attempt no longer holds the experiment."""
    now = _now(now)
    held = running_attempt(experiment_id, attempt)
    if update_where(
        session,
        and_(held, Experiment.cancel_requested.is_(True)),
        came_from=(Status.running,),
        status=Status.cancelled,
        lease_expires_at=None,
        finished_at=now,
        updated_at=now,
    ):
        return True
    return update_where(
        session,
        held,
        came_from=(Status.running,),
        status=Status.queued,
        worker=None,
        lease_expires_at=None,
        dispatched_at=None,
        max_attempts=Experiment.max_attempts + 1,
        updated_at=now,
    )
