"""The per-user trace quota (SILAB_MAX_USER_TRACE_POINTS): all of a user's experiments together
may hold at most this many trace points. SILAB_MAX_TRACE_POINTS bounds one experiment; without a
total, a user could still fill the disk with a thousand of them.

Usage counts what each experiment holds or will hold: a queued or running one its estimate
(`experiment.trace_points`, trainer.spec.trace_points at submit, which also covers the points an
earlier attempt stored), any other its stored points. The database keeps it per owner (db.usage:
one counter row, moved in the transactions that insert, end, retry or delete experiments), so a
check reads one row however many experiments the owner has. Deleting an experiment frees its
points. A retry queues a finished experiment again: from then on it counts its estimate instead of
what it stored (`retry_adds`), so a retry is checked like a submit of that difference.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.config import ApiSettings
from api.services.errors import LimitExceeded
from db import locks
from db import usage as db_usage
from db.models import Experiment


def usage(owner: str, *, session: Session) -> int:
    """Trace points `owner`'s experiments hold or will hold (see the module docstring)."""
    return db_usage.held(owner, session=session)


def retry_adds(experiment: Experiment) -> int:
    """How much a retry of this finished experiment adds to its owner's usage: its estimate
    replaces what it counts now, its stored points (a row without an estimate goes on counting
    what it stores)."""
    if experiment.trace_points is None:
        return 0
    return max(0, experiment.trace_points - experiment.charged_points)


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
    back, so a second submit of the same owner reads the counter only after the first has
    committed."""
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
