"""The reaper (celery beat's silab.maintain; dispatching is db.scheduler's): running experiments
whose lease expired are requeued, failed or cancelled."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from db.models import Experiment, Status
from db.queue.conditional import running_attempt, update_where
from db.types import now_utc as _now


@dataclass
class ReapReport:
    """What one `reap` did: ids requeued, failed (attempts exhausted), cancelled (a cancel had
    been requested; nobody will finish it)."""

    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed or self.cancelled)


def reap(*, session: Session, now: datetime | None = None) -> ReapReport:
    """Deal with running experiments whose lease expired before `now` (the worker died or hung):

    - a cancel was requested → cancelled (nobody is left to stop it);
    - attempt < max_attempts → queued again (worker, lease and dispatched_at cleared, so the
      dispatcher re-sends it; the next attempt resumes from the checkpoint);
    - otherwise → failed, error "lease expired on attempt k of n (worker w): attempts exhausted".

    Each change is conditional on (id, attempt, status='running', lease still expired), so a
    heartbeat that lands first, or a second reaper, wins cleanly.
    """
    now = _now(now)
    report = ReapReport()
    expired = session.execute(
        select(
            Experiment.id,
            Experiment.attempt,
            Experiment.max_attempts,
            Experiment.worker,
            Experiment.cancel_requested,
        )
        .where(Experiment.status == Status.running, Experiment.lease_expires_at < now)
        .order_by(Experiment.id)
    ).all()
    for experiment_id, attempt, max_attempts, worker, cancel_requested in expired:
        still_expired = and_(
            running_attempt(experiment_id, attempt), Experiment.lease_expires_at < now
        )
        outcome: list[int]
        values: dict[str, Any]
        if cancel_requested:
            outcome, values = (
                report.cancelled,
                {"status": Status.cancelled, "finished_at": now},
            )
        elif attempt < max_attempts:
            outcome = report.requeued
            values = {"status": Status.queued, "worker": None, "dispatched_at": None}
        else:
            outcome = report.failed
            error = (
                f"lease expired on attempt {attempt} of {max_attempts} (worker {worker}): "
                "attempts exhausted"
            )
            values = {"status": Status.failed, "error": error, "finished_at": now}
        running = (Status.running,)
        changes = {"lease_expires_at": None, "updated_at": now, **values}
        if update_where(session, still_expired, came_from=running, **changes):
            outcome.append(experiment_id)
    return report
