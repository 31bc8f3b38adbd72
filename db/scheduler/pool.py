"""The pool as a round sees it: busy slots per owner, their running limits and last starts, and
the two predicates every scheduler query is built from (waiting for a message, busy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from db.models import Account, Experiment, Status
from db.types import stored_utc


@dataclass
class Pool:
    """What the dispatcher sees at the start of a round."""

    slots: int
    # Slots in use: groups running or in flight (None: one per busy experiment).
    slots_used: int | None = None
    busy: dict[str, int] = field(default_factory=dict)  # owner -> running + in flight
    max_running: dict[str, int | None] = field(default_factory=dict)  # owner -> limit
    last_start: dict[str, datetime] = field(default_factory=dict)  # owner -> last slot handed

    @property
    def busy_total(self) -> int:
        return sum(self.busy.values())

    @property
    def free(self) -> int:
        used = self.busy_total if self.slots_used is None else self.slots_used
        return max(0, self.slots - used)

    def at_limit(self, owner: str) -> bool:
        limit = self.max_running.get(owner)
        return limit is not None and self.busy.get(owner, 0) >= limit


def stale_before(now: datetime, resend_after_s: float) -> datetime:
    """A message sent before this may be lost: its experiment is waiting again."""
    return now - timedelta(seconds=resend_after_s)


def waiting(stale: datetime) -> Any:
    """Queued experiments that need a message: never sent, or sent so long ago that it may be
    lost."""
    return and_(
        Experiment.status == Status.queued,
        Experiment.cancel_requested.is_(False),
        or_(Experiment.dispatched_at.is_(None), Experiment.dispatched_at < stale),
    )


def busy(stale: datetime) -> Any:
    """Running, or sent recently and not yet claimed."""
    return or_(
        Experiment.status == Status.running,
        and_(Experiment.status == Status.queued, Experiment.dispatched_at >= stale),
    )


def pool_state(
    *,
    session: Session,
    slots: int,
    default_max_running: int | None,
    resend_after_s: float,
    owners: set[str] | None = None,
    now: datetime,
) -> Pool:
    """Busy slots per owner, and for `owners` (plus the busy ones) their running limit and when
    they were last handed a slot."""
    stale = stale_before(now, resend_after_s)
    pool = Pool(slots=slots)
    for owner, count in session.execute(
        select(Experiment.owner, func.count()).where(busy(stale)).group_by(Experiment.owner)
    ):
        pool.busy[owner] = count
    # a group holds one slot: its members share group_head (older rows: their own id)
    pool.slots_used = session.scalar(
        select(func.count(func.distinct(func.coalesce(Experiment.group_head, Experiment.id))))
        .select_from(Experiment)
        .where(busy(stale))
    )
    names = set(owners or ()) | set(pool.busy)
    if not names:
        return pool
    limits = dict(
        session.execute(
            select(Account.name, Account.max_running).where(Account.name.in_(names))
        ).all()
    )
    for name in names:
        limit = limits.get(name)
        pool.max_running[name] = limit if limit is not None else default_max_running
    # One max() per owner and column, each answered from the end of an (owner, time) index
    # (ix_experiment_owner_started_at / _dispatched_at); a GROUP BY over all of these owners'
    # rows would read their whole history at every dispatch round (bench/api_load.py).
    ordered = sorted(names)
    for first in range(0, len(ordered), 100):
        chunk = ordered[first : first + 100]
        row = session.execute(
            select(
                *(
                    select(func.max(column)).where(Experiment.owner == owner).scalar_subquery()
                    for owner in chunk
                    for column in (Experiment.started_at, Experiment.dispatched_at)
                )
            )
        ).one()
        for k, owner in enumerate(chunk):
            times = [t for t in (row[2 * k], row[2 * k + 1]) if t is not None]
            if times:
                pool.last_start[owner] = max(stored_utc(t) for t in times)
    return pool
