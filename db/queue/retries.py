"""Retry, the API side: an ended experiment goes back in the queue with more attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete
from sqlalchemy.orm import Session

from db import traces, usage
from db.models import SUMMARY_COLUMNS, Checkpoint, Experiment, Status
from db.queue.conditional import update_where
from db.types import now_utc as _now

# A retry gives the experiment this many more attempts.
DEFAULT_RETRY_ATTEMPTS = 3
# Statuses `retry` puts back in the queue.
RETRYABLE = (Status.failed, Status.cancelled, Status.diverged)
# What a requeue clears: the last attempt's outcome (its error, result and summary columns) and
# its place in the pool (finished_at, the lease, the worker, dispatched_at, so the dispatcher
# sends it again), as the values of the one UPDATE.
CLEARED: dict[str, Any] = {
    **dict.fromkeys(SUMMARY_COLUMNS),
    **dict.fromkeys(
        ("error", "result", "finished_at", "lease_expires_at", "worker", "dispatched_at")
    ),
    "cancel_requested": False,
}


def retry(
    experiment_id: int,
    *,
    session: Session,
    extra_attempts: int = DEFAULT_RETRY_ATTEMPTS,
    from_scratch: bool = False,
    now: datetime | None = None,
) -> bool:
    """failed / cancelled / diverged → queued, with a renewed attempt budget
    (max_attempts = attempt + extra_attempts). Clears error, result, the summary columns,
    finished_at, the lease, the worker, cancel_requested and dispatched_at (so the dispatcher
    sends it).

    The trace and the checkpoint are kept: the next attempt resumes from the checkpoint and its
    points dedupe against the stored ones. from_scratch=True deletes both (and samples_done),
    e.g. after a change that makes the old numbers wrong.

    Returns True when requeued; False when there is no such id or it is not in a retryable state
    (queued, running, completed).
    """
    if extra_attempts < 1:
        raise ValueError("extra_attempts must be at least 1")
    now = _now(now)
    restart = {"samples_done": 0} if from_scratch else {}
    requeued = update_where(
        session,
        and_(Experiment.id == experiment_id, Experiment.status.in_(RETRYABLE)),
        came_from=RETRYABLE,
        status=Status.queued,
        max_attempts=Experiment.attempt + extra_attempts,
        updated_at=now,
        **CLEARED,
        **restart,
    )
    if requeued and from_scratch:
        traces.remove(experiment_id, session=session)
        usage.recharge([experiment_id], session=session)  # a row without an estimate held them
        session.execute(delete(Checkpoint).where(Checkpoint.experiment_id == experiment_id))
    return requeued
