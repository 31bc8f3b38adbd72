"""The one conditional UPDATE every state change of the queue is made of, and the WHERE clause
most of them share: "this attempt still owns the experiment"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, update
from sqlalchemy.orm import Session

from db import usage
from db.models import Experiment, Status
from db.session import rowcount


def running_attempt(experiment_id: int, attempt: int) -> Any:
    """The experiment is running this attempt (not reaped, finished or superseded)."""
    return and_(
        Experiment.id == experiment_id,
        Experiment.attempt == attempt,
        Experiment.status == Status.running,
    )


def update_where(
    session: Session, where: Any, *, came_from: Sequence[Status] = (), **values: Any
) -> bool:
    """One conditional UPDATE of experiment; True when it matched a row.

    A change of status names the statuses it comes from (`came_from`, added to the condition):
    the UPDATE then moves the owners' counters (db.usage) by what it changed, queued in or out,
    and recharges the rows whose trace charge it changed."""
    statement = (
        update(Experiment)
        .where(where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if "status" not in values:
        return rowcount(session.execute(statement)) > 0
    was_queued = Status.queued in came_from
    if not came_from or (was_queued and len(came_from) > 1):
        raise ValueError("a change of status comes from queued alone or from other statuses")
    changed = session.execute(
        statement.where(Experiment.status.in_(came_from)).returning(Experiment.id, Experiment.owner)
    ).all()
    queued = int(values["status"] == Status.queued) - int(was_queued)
    for _, owner in changed:
        usage.charge(owner, queued=queued, session=session)
    # A start changes no trace charge (queued and running both count the estimate), and claims
    # are the hot path: they skip the recharge.
    if values["status"] != Status.running:
        usage.recharge([experiment_id for experiment_id, _ in changed], session=session)
    return bool(changed)
