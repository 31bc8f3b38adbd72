"""A new priority for queued experiments (one, or a sweep's): it only orders the queue, so running
and finished experiments keep the one they ran with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, update
from sqlalchemy.orm import Session

from db.models import Experiment, Status
from db.session import rowcount
from db.types import now_utc as _now


def reprioritize(
    *,
    session: Session,
    priority: int,
    experiment_id: int | None = None,
    sweep_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Set `priority` on the queued experiment `experiment_id`, or on every queued experiment of
    sweep `sweep_id`, in one UPDATE. Returns how many rows changed (0: none queued)."""
    if (experiment_id is None) == (sweep_id is None):
        raise ValueError("give exactly one of experiment_id and sweep_id")
    which = (
        Experiment.id == experiment_id
        if experiment_id is not None
        else Experiment.sweep_id == sweep_id
    )
    result = session.execute(
        update(Experiment)
        .where(and_(which, Experiment.status == Status.queued))
        .values(priority=priority, updated_at=_now(now))
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)
