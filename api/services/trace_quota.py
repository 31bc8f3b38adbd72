"""The per-user trace quota (SILAB_MAX_USER_TRACE_POINTS): all of a user's experiments together
may hold at most this many trace points. SILAB_MAX_TRACE_POINTS bounds one experiment; without a
total, a user could still fill the disk with a thousand of them.

Usage counts what each experiment holds or will hold: a queued or running one its estimate
(`experiment.trace_points`, trainer.spec.trace_points at submit, which also covers the points an
earlier attempt stored), any other its stored points (`trace_chunk.points`; also a row from
before the estimate column, whose estimate is NULL). Deleting an experiment frees its points.
A retry queues a finished experiment again: from then on it counts its estimate instead of
what it stored (`retry_adds`), so a retry is checked like a submit of that difference.
"""

from __future__ import annotations

from sqlalchemy import and_, func, not_, select
from sqlalchemy.orm import Session

from api.config import ApiSettings
from api.services.errors import LimitExceeded
from db import locks
from db.models import Experiment, Status, TraceChunk

ACTIVE = (Status.queued, Status.running)


def usage(owner: str, *, session: Session) -> int:
    """Trace points `owner`'s experiments hold or will hold (see the module docstring). Two
    index-range sums: the owner's active rows (ix_experiment_status_owner), and the chunks of
    their other experiments (the owner's ids, then trace_chunk's primary key per id)."""
    estimated = and_(Experiment.status.in_(ACTIVE), Experiment.trace_points.is_not(None))
    active = select(func.coalesce(func.sum(Experiment.trace_points), 0)).where(
        Experiment.owner == owner, estimated
    )
    stored = (
        select(func.coalesce(func.sum(TraceChunk.points), 0))
        .join(Experiment, Experiment.id == TraceChunk.experiment_id)
        .where(Experiment.owner == owner, not_(estimated))
    )
    return int(session.scalar(active) or 0) + int(session.scalar(stored) or 0)


def retry_adds(experiment: Experiment, *, session: Session) -> int:
    """How much a retry of this finished experiment adds to its owner's usage: its estimate
    replaces its stored points (a row without an estimate goes on counting what it stores)."""
    if experiment.trace_points is None:
        return 0
    stored = session.scalar(
        select(func.coalesce(func.sum(TraceChunk.points), 0)).where(
            TraceChunk.experiment_id == experiment.id
        )
    )
    return max(0, experiment.trace_points - int(stored or 0))


def check_trace_quota(
    owner: str,
    *,
    adding: int,
    session: Session,
    settings: ApiSettings,
    request: str = "submission",
) -> None:
    """LimitExceeded when experiments estimated at `adding` trace points would put `owner` over
    the quota. Exact under concurrent submits the way the queued limit is: the owner's account
    is locked first (db.locks) and stays locked until the caller commits what it adds or rolls
    back, so a second submit of the same owner sums only after the first has committed."""
    quota = settings.max_user_trace_points
    if quota is None:
        return
    locks.lock_account(owner, session=session)
    used = usage(owner, session=session)
    if used + adding > quota:
        raise LimitExceeded(
            f"trace quota: {owner} may hold at most {quota} trace points in all "
            f"(SILAB_MAX_USER_TRACE_POINTS) and holds {used} (stored points of finished "
            f"experiments, estimates of queued and running ones); this {request} would add "
            f"{adding}, {used + adding - quota} over. Delete old experiments (DELETE "
            "/experiments/{id}, their traces go with them) or evaluate less often (eval.points, "
            "eval.every) or with fewer seeds."
        )
