"""The fair dispatcher: which queued experiments get the free worker slots, and a queued
experiment's place in line. Shared by the API (a round right after a submit or a retry) and the
worker's `silab.maintain` (a round every dispatch interval).

The model (docs/design.md, "Scheduling"):
- The pool has `slots` worker processes (SILAB_WORKER_SLOTS). A slot is busy while an experiment
  runs on it, or while a message for a queued experiment is on its way (sent less than
  `resend_after_s` ago and not yet claimed). Only `slots - busy` messages are sent per round, so
  the order of the broker's queue never decides anything: this module does.
- Strict priority between levels (higher first). Within a level users take turns: the next slot
  goes to the user with the fewest busy slots, then the one handed a slot least recently, then
  the one whose oldest waiting experiment is oldest; FIFO (by id) within one user. A user at
  their running limit (account.max_running, else the lab default) is skipped; a lower level may
  then use the slot (the pool never idles while someone can run).
- Groups (docs/design.md, "Groups, claims and warm workers"): a group is the longest prefix of
  the fair order whose members share the head's `shape_key`, capped by `GroupLimits`
  (SILAB_GROUP_MAX_EXPERIMENTS experiments, SILAB_GROUP_MEMORY_GB summed memory estimates). A
  group holds one slot and travels as one message. Because a group is always a prefix of what is
  left of the fair order, the started experiments are always a prefix of the fair order: nobody
  jumps a higher priority or a user whose turn it is. The fair order counts every member as one
  experiment (turns and running limits count experiments); only the slot count counts groups.
- A round is serialized (an advisory lock on PostgreSQL, the write lock on SQLite): the chosen
  experiments are marked dispatched and committed BEFORE they are sent, and unmarked when the
  broker refuses them, so two concurrent rounds never hand out the same slot twice.

Nothing here commits except `dispatch_round`, which owns its sessions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from db.config import GroupSettings
from db.models import Account, Experiment, Status
from db.types import now_utc as _now
from db.types import stored_utc

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key of a dispatch round ("silab" in ASCII, as an integer).
DISPATCH_LOCK_KEY = 0x73696C6162
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# `position` replays at most this many turns (beyond, the count is a lower bound).
MAX_REPLAY = 100_000


@dataclass(frozen=True)
class GroupLimits:
    """How large a group may grow (db.config.GroupSettings gives the lab's values)."""

    max_experiments: int = 1
    memory_gb: float = float("inf")

    @staticmethod
    def from_settings() -> GroupLimits:
        settings = GroupSettings()
        return GroupLimits(settings.max_experiments, settings.memory_gb)


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


@dataclass
class Turns:
    """The fair-turn rule, which the dispatcher's order and `position`'s replay both follow: the
    next slot goes to the user with the fewest busy slots, then to the one handed a slot least
    recently, then to the one whose oldest waiting experiment is oldest. A slot handed in this
    round counts one more busy and is more recent than any before it (`handed`: the order of
    this round's last hand-outs), so ties never hang on clock resolution."""

    busy: dict[str, int]  # owner -> busy slots (shared with the Pool while dispatching)
    last_start: dict[str, datetime]  # owner -> when last handed a slot, before this round
    handed: dict[str, int] = field(default_factory=dict)
    _handouts: int = 0

    def next(self, oldest: dict[str, int]) -> str:
        """Whose turn it is among `oldest`'s owners (owner -> their oldest waiting id)."""
        return min(oldest, key=lambda owner: self._key(owner, oldest[owner]))

    def hand(self, owner: str) -> None:
        self.busy[owner] = self.busy.get(owner, 0) + 1
        self._handouts += 1
        self.handed[owner] = self._handouts

    def _key(self, owner: str, oldest_id: int) -> tuple[int, int, datetime, int]:
        recency = self.handed.get(owner, 0)
        return (self.busy.get(owner, 0), recency, self.last_start.get(owner, _EPOCH), oldest_id)


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


# ---------------------------------------------------------------------------------------------
# Queries


def _stale(now: datetime, resend_after_s: float) -> datetime:
    return now - timedelta(seconds=resend_after_s)


def _waiting(stale: datetime) -> Any:
    """Queued experiments that need a message: never sent, or sent so long ago that it may be
    lost."""
    return and_(
        Experiment.status == Status.queued,
        Experiment.cancel_requested.is_(False),
        or_(Experiment.dispatched_at.is_(None), Experiment.dispatched_at < stale),
    )


def _busy(stale: datetime) -> Any:
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
    stale = _stale(now, resend_after_s)
    pool = Pool(slots=slots)
    for owner, count in session.execute(
        select(Experiment.owner, func.count()).where(_busy(stale)).group_by(Experiment.owner)
    ):
        pool.busy[owner] = count
    # a group holds one slot: its members share group_head (older rows: their own id)
    pool.slots_used = session.scalar(
        select(func.count(func.distinct(func.coalesce(Experiment.group_head, Experiment.id))))
        .select_from(Experiment)
        .where(_busy(stale))
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


@dataclass(frozen=True)
class _Waiting:
    id: int
    shape_key: str | None
    memory_gb: float


def plan_groups(
    *,
    session: Session,
    slots: int,
    default_max_running: int | None,
    resend_after_s: float,
    limit: int | None = None,
    now: datetime | None = None,
    groups: GroupLimits = GroupLimits(),
) -> list[list[int]]:
    """The groups to send now, one per free slot (at most `limit`), each a prefix of what is
    left of the fair order (read-only)."""
    now = _now(now)
    order = _FairOrder.load(session, slots, default_max_running, resend_after_s, now, groups)
    if order is None:
        return []
    free = order.pool.free if limit is None else min(order.pool.free, limit)
    out: list[list[int]] = []
    while len(out) < free:
        head = order.take()
        if head is None:
            break
        group, memory = [head.id], head.memory_gb
        while len(group) < groups.max_experiments and head.shape_key is not None:
            following = order.peek()
            if following is None or following.shape_key != head.shape_key:
                break
            if memory + following.memory_gb > groups.memory_gb:
                break
            order.take()
            group.append(following.id)
            memory += following.memory_gb
        out.append(group)
    return out


class _FairOrder:
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
        self.rows: dict[tuple[int, str], list[_Waiting]] = {}
        self.fetch = fetch
        self.turns = Turns(pool.busy, pool.last_start)

    @staticmethod
    def load(
        session: Session,
        slots: int,
        default_max_running: int | None,
        resend_after_s: float,
        now: datetime,
        groups: GroupLimits,
    ) -> _FairOrder | None:
        stale = _stale(now, resend_after_s)
        # (priority, owner) -> [waiting count, oldest id]
        waiting: dict[tuple[int, str], list[int]] = {}
        for priority, owner, count, oldest in session.execute(
            select(Experiment.priority, Experiment.owner, func.count(), func.min(Experiment.id))
            .where(_waiting(stale))
            .group_by(Experiment.priority, Experiment.owner)
        ):
            waiting[(priority, owner)] = [count, oldest]
        if not waiting:
            return None
        pool = pool_state(
            session=session,
            slots=slots,
            default_max_running=default_max_running,
            resend_after_s=resend_after_s,
            owners={o for _, o in waiting},
            now=now,
        )
        fetch = max(1, pool.free) * max(1, min(groups.max_experiments, 10_000))
        order = _FairOrder(session, pool, waiting, stale, fetch)
        return order

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

    def _row(self, pick: tuple[int, str]) -> _Waiting | None:
        if pick not in self.rows:
            level, owner = pick
            self.rows[pick] = [
                _Waiting(i, key, float(memory or 0.0))
                for i, key, memory in self.session.execute(
                    select(Experiment.id, Experiment.shape_key, Experiment.memory_gb)
                    .where(
                        _waiting(self.stale),
                        Experiment.priority == level,
                        Experiment.owner == owner,
                    )
                    .order_by(Experiment.id)
                    .limit(self.fetch)
                )
            ]
        rows = self.rows[pick]
        return rows[0] if rows else None

    def peek(self) -> _Waiting | None:
        pick = self._next()
        return None if pick is None else self._row(pick)

    def take(self) -> _Waiting | None:
        pick = self._next()
        row = None if pick is None else self._row(pick)
        if pick is None or row is None:
            return None
        self.rows[pick].pop(0)
        self.waiting[pick][0] -= 1
        self.turns.hand(pick[1])
        return row


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
    stale = _stale(now, resend_after_s)
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
        .where(_waiting(stale), Experiment.priority == priority)
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
        waiting = ["a worker to claim it"] if in_flight else []
        return Position(
            position=None,
            ahead_higher_priority=0,
            ahead_same_priority=0,
            waiting_for=waiting,
            **base,
        )
    higher = (
        session.scalar(
            select(func.count())
            .select_from(Experiment)
            .where(_waiting(stale), Experiment.priority > priority)
        )
        or 0
    )
    own_before = (
        session.scalar(
            select(func.count())
            .select_from(Experiment)
            .where(
                _waiting(stale),
                Experiment.priority == priority,
                Experiment.owner == owner,
                Experiment.id < experiment_id,
            )
        )
        or 0
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


# ---------------------------------------------------------------------------------------------
# A round


def lock_round(session: Session) -> None:
    """Serialize dispatch rounds until this transaction ends (PostgreSQL: an advisory lock;
    SQLite: an UPDATE that matches nothing still takes the database's write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DISPATCH_LOCK_KEY})
    else:
        session.execute(
            update(Experiment)
            .where(Experiment.id == -1)
            .values(status=Experiment.status)
            .execution_options(synchronize_session=False)
        )


def dispatch_round(
    sessions: sessionmaker[Session],
    send: Callable[[list[int]], None],
    *,
    slots: int,
    default_max_running: int | None,
    resend_after_s: float,
    limit: int | None = None,
    now: datetime | None = None,
    groups: GroupLimits | None = None,
) -> tuple[list[int], str | None]:
    """Pick groups by the fair rule, mark their members dispatched (and their group) and commit,
    then send one message per group; returns (ids sent, the send error or None). `send` raises
    when the broker does not take a message: the round stops there (the broker is down, the rest
    would fail too) and the unsent ones are unmarked, so the next round picks them again."""
    now = _now(now)
    groups = groups or GroupLimits.from_settings()
    with sessions() as session:
        lock_round(session)
        planned = plan_groups(
            session=session,
            slots=slots,
            default_max_running=default_max_running,
            resend_after_s=resend_after_s,
            limit=limit,
            now=now,
            groups=groups,
        )
        for group in planned:
            session.execute(
                update(Experiment)
                .where(Experiment.id.in_(group), Experiment.status == Status.queued)
                .values(dispatched_at=now, group_head=group[0])
                .execution_options(synchronize_session=False)
            )
        session.commit()
    sent: list[int] = []
    error: str | None = None
    for group in planned:
        try:
            send(group)
        except Exception as exc:  # noqa: BLE001 (whatever the broker client raises)
            error = f"{type(exc).__name__}: {exc}"
            log.warning("dispatcher: could not send experiments %s: %s", group, error)
            break
        sent.extend(group)
    unsent = [i for group in planned for i in group][len(sent) :]
    if unsent:
        with sessions() as session:
            session.execute(
                update(Experiment)
                .where(Experiment.id.in_(unsent), Experiment.dispatched_at == now)
                .values(dispatched_at=None, group_head=None)
                .execution_options(synchronize_session=False)
            )
            session.commit()
    if sent:
        log.info("dispatcher: sent %s", [g for g in planned if g[0] in set(sent)])
    return sent, error
