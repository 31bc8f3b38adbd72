"""The waiting experiments in the fair order, one pick at a time (read-only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Experiment
from db.scheduler.pool import Pool, pool_state, stale_before, waiting
from db.scheduler.turns import Turns


@dataclass(frozen=True)
class Waiting:
    """A waiting experiment, with what grouping needs to know of it."""

    id: int
    shape_key: str | None
    memory_gb: float


class FairOrder:
    """The fair order of the waiting experiments, one pick at a time: strict priority, then the
    user whose turn it is (fewest busy, least recently handed one, oldest waiting), FIFO within a
    user; users at their running limit are skipped. Each pick counts as one busy experiment."""

    def __init__(
        self,
        session: Session,
        pool: Pool,
        waiting: dict[tuple[int, str], list[int]],
        stale: datetime,
        fetch: int,
    ):
        self.session, self.pool, self.waiting, self.stale = session, pool, waiting, stale
        self.levels = sorted({p for p, _ in waiting}, reverse=True)
        self.rows: dict[tuple[int, str], list[Waiting]] = {}
        self.fetch = fetch
        self.turns = Turns(pool.busy, pool.last_start)

    @staticmethod
    def load(
        session: Session,
        slots: int,
        default_max_running: int | None,
        resend_after_s: float,
        now: datetime,
        max_group: int,
    ) -> FairOrder | None:
        """The order of what waits now, or None when nothing does. `max_group` (experiments in
        one group at most) sizes how many rows of a user are read at a time."""
        stale = stale_before(now, resend_after_s)
        # (priority, owner) -> [waiting count, oldest id]
        counts: dict[tuple[int, str], list[int]] = {}
        for priority, owner, count, oldest in session.execute(
            select(Experiment.priority, Experiment.owner, func.count(), func.min(Experiment.id))
            .where(waiting(stale))
            .group_by(Experiment.priority, Experiment.owner)
        ):
            counts[(priority, owner)] = [count, oldest]
        if not counts:
            return None
        pool = pool_state(
            session=session,
            slots=slots,
            default_max_running=default_max_running,
            resend_after_s=resend_after_s,
            owners={o for _, o in counts},
            now=now,
        )
        fetch = max(1, pool.free) * max(1, min(max_group, 10_000))
        return FairOrder(session, pool, counts, stale, fetch)

    def _next(self) -> tuple[int, str] | None:
        for level in self.levels:
            owners = [
                o
                for (p, o), (n, _) in self.waiting.items()
                if p == level and n > 0 and not self.pool.at_limit(o)
            ]
            if owners:
                oldest = {o: self.waiting[(level, o)][1] for o in owners}
                return level, self.turns.next(oldest)
        return None  # everyone waiting is at their running limit

    def _row(self, pick: tuple[int, str]) -> Waiting | None:
        if pick not in self.rows:
            level, owner = pick
            self.rows[pick] = [
                Waiting(i, key, float(memory or 0.0))
                for i, key, memory in self.session.execute(
                    select(Experiment.id, Experiment.shape_key, Experiment.memory_gb)
                    .where(
                        waiting(self.stale),
                        Experiment.priority == level,
                        Experiment.owner == owner,
                    )
                    .order_by(Experiment.id)
                    .limit(self.fetch)
                )
            ]
        rows = self.rows[pick]
        return rows[0] if rows else None

    def peek(self) -> Waiting | None:
        pick = self._next()
        return None if pick is None else self._row(pick)

    def take(self) -> Waiting | None:
        pick = self._next()
        row = None if pick is None else self._row(pick)
        if pick is None or row is None:
            return None
        self.rows[pick].pop(0)
        self.waiting[pick][0] -= 1
        self.turns.hand(pick[1])
        return row
