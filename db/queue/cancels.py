"""Cancel, the API side: a queued experiment ends at once, a running one is asked to stop."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_
from sqlalchemy.orm import Session

from db.models import Experiment, Status
from db.queue.conditional import update_where
from db.types import now_utc as _now


def cancel(experiment_id: int, *, session: Session, now: datetime | None = None) -> bool:
    """Cancel an experiment. queued → cancelled at once (it never starts); running →
    cancel_requested=True (the worker sees it in its next heartbeat, stops and calls
    `mark_cancelled`); a finished experiment is left unchanged.

    Returns whether a conditional UPDATE matched (False: no such id, or it has finished).
    """
    now = _now(now)
    return update_where(
        session,
        and_(Experiment.id == experiment_id, Experiment.status == Status.queued),
        came_from=(Status.queued,),
        status=Status.cancelled,
        cancel_requested=True,
        finished_at=now,
        updated_at=now,
    ) or update_where(
        session,
        and_(Experiment.id == experiment_id, Experiment.status == Status.running),
        cancel_requested=True,
        updated_at=now,
    )


def request_cancel(
    experiment_id: int, *, session: Session, now: datetime | None = None
) -> Experiment | None:
    """`cancel`, then the experiment as it is afterwards (fresh from the database), or None if
    there is no such id."""
    cancel(experiment_id, session=session, now=now)
    return session.get(Experiment, experiment_id, populate_existing=True)
