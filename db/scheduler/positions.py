"""A queued experiment's place in line: the dispatcher's turns replayed (read-only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Experiment, Status
from db.scheduler.pool import pool_state, stale_before, waiting
from db.scheduler.turns import Turns
from db.types import now_utc as _now
from db.types import stored_utc

# `position` replays at most this many turns (beyond, the count is a lower bound).
MAX_REPLAY = 100_000


@dataclass(frozen=True)
class Position:
    """A queued experiment's place in line (an estimate: it assumes nothing else is submitted and
    users keep taking turns), and what it waits for."""

    experiment_id: int
    status: str
    in_flight: bool  # sent to the broker; waits for a worker to claim it
    position: int | None  # 1 = next to be sent; None when not queued or already sent
    ahead_higher_priority: int
    ahead_same_priority: int
    slots: int
    busy_slots: int
    owner_busy: int
    owner_max_running: int | None
    waiting_for: list[str]


def position(
    experiment_id: int,
    *,
    session: Session,
    slots: int,
    default_max_running: int | None,
    resend_after_s: float,
    now: datetime | None = None,
) -> Position | None:
    """Where a queued experiment stands; None when there is no such experiment.

    `position` counts what the dispatcher would send before it: every waiting experiment of a
    higher priority, the owner's own older ones at its level, and, for every other user at its
    level, as many as that user gets before the owner's turn comes (users take turns by busy
    slots). `waiting_for` names the reasons it is not running yet: "worker slots" (all busy),
    "running limit" (its owner is at their max_running), "higher priority" (queued above it),
    "turn" (others at its level go first).
    """
    now = _now(now)
    stale = stale_before(now, resend_after_s)
    row = session.execute(
        select(
            Experiment.status,
            Experiment.owner,
            Experiment.priority,
            Experiment.dispatched_at,
            Experiment.cancel_requested,
        ).where(Experiment.id == experiment_id)
    ).first()
    if row is None:
        return None
    status, owner, priority, dispatched_at, cancel_requested = row
    in_flight = (
        status == Status.queued and dispatched_at is not None and stored_utc(dispatched_at) >= stale
    )
    same_level: dict[str, tuple[int, int]] = {}  # owner -> (waiting at this level, oldest id)
    for other, count, first_id in session.execute(
        select(Experiment.owner, func.count(), func.min(Experiment.id))
        .where(waiting(stale), Experiment.priority == priority)
        .group_by(Experiment.owner)
    ):
        same_level[other] = (count, first_id)
    pool = pool_state(
        session=session,
        slots=slots,
        default_max_running=default_max_running,
        resend_after_s=resend_after_s,
        owners=set(same_level) | {owner},
        now=now,
    )
    base: dict[str, Any] = {
        "experiment_id": experiment_id,
        "status": status,
        "in_flight": in_flight,
        "slots": slots,
        "busy_slots": pool.busy_total if pool.slots_used is None else pool.slots_used,
        "owner_busy": pool.busy.get(owner, 0),
        "owner_max_running": pool.max_running.get(owner),
    }
    if status != Status.queued or cancel_requested or in_flight:
        waiting_for = ["a worker to claim it"] if in_flight else []
        return Position(
            position=None,
            ahead_higher_priority=0,
            ahead_same_priority=0,
            waiting_for=waiting_for,
            **base,
        )
    higher = _count(session, waiting(stale), Experiment.priority > priority)
    own_before = _count(
        session,
        waiting(stale),
        Experiment.priority == priority,
        Experiment.owner == owner,
        Experiment.id < experiment_id,
    )
    # Replay the dispatcher's turns at this level (nothing finishes meanwhile, running limits
    # ignored) until the owner's turn reaches this experiment.
    remaining = {o: count for o, (count, _) in same_level.items() if o != owner}
    oldest = {o: first for o, (_, first) in same_level.items()}
    remaining[owner] = own_before + 1
    oldest.setdefault(owner, experiment_id)
    turns = Turns(dict(pool.busy), dict(pool.last_start))
    others = 0
    for _ in range(MAX_REPLAY):
        turn = turns.next({o: oldest[o] for o, n in remaining.items() if n > 0})
        if turn == owner and remaining[owner] == 1:
            break
        if turn != owner:
            others += 1
        remaining[turn] -= 1
        turns.hand(turn)
    waiting_for = []
    if pool.free == 0:
        waiting_for.append("worker slots")
    if pool.at_limit(owner):
        waiting_for.append("running limit")
    if higher:
        waiting_for.append("higher priority")
    if others or own_before:
        waiting_for.append("turn")
    return Position(
        position=higher + others + own_before + 1,
        ahead_higher_priority=higher,
        ahead_same_priority=others + own_before,
        waiting_for=waiting_for,
        **base,
    )


def _count(session: Session, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(Experiment).where(*where)) or 0
