"""What each owner's experiments hold, as one counter row per owner (table owner_usage), so that
the submit-time limits read one row however many experiments the owner has. Summing the owner's
rows under the account lock made a submit cost 461 ms at 3.3·10⁴ queued experiments, against
93 ms with few (issue 10).

Two counters:
- `queued`: how many of the owner's experiments are queued (the queued limit);
- `trace_points`: the sum of their `charged_points` (the trace quota). A row is charged its
  estimate (`trace_points`) while queued or running and its stored points (trace_chunk.points)
  once it has ended. A row without an estimate (submitted before the quota) is charged its
  stored points as of its last change of status.

The three things that change a counter move it in their own transaction:
- an insert (api.crud: `charge` one queued row and its estimate);
- a change of status (db.queue.conditional.update_where, the one UPDATE every transition is:
  `charge` the change of queued, `recharge` the rows whose charge it changed); a retry from
  scratch recharges the row whose trace it deleted;
- a delete (`discharge` what the rows it removed counted).

The moves are collected in the session and applied when it commits, owners sorted, after every
row lock the transaction took. An ending locks its experiment row and then the counter, the
reaper several experiment rows and then their counters; nobody holds a counter while waiting for
an experiment row, so they cannot deadlock. A transaction that does not commit drops its moves.
`recount` derives the counters from the rows alone: the migration fills the table the same way,
the tests hold the counters to it, and `rebuild` (silab-admin recount-usage) resets them to it
after rows were changed in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, case, delete, event, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction

from db import locks
from db.models import Experiment, OwnerUsage, Status, TraceChunk

ACTIVE = (Status.queued, Status.running)
# Where a session keeps the moves it has not applied yet: owner → [trace points, queued].
_MOVES = "silab.owner_usage.moves"


def charge(owner: str, *, session: Session, points: int = 0, queued: int = 0) -> None:
    """Move `owner`'s counters by `points` and `queued` when this session commits."""
    if points or queued:
        move = session.info.setdefault(_MOVES, {}).setdefault(owner, [0, 0])
        move[0] += points
        move[1] += queued


def held(owner: str, *, session: Session) -> int:
    """The trace points `owner`'s experiments hold or will hold, with this session's moves."""
    stored = session.scalar(select(OwnerUsage.trace_points).where(OwnerUsage.owner == owner))
    return int(stored or 0) + _pending(session, owner)[0]


def queued(owner: str, *, session: Session) -> int:
    """How many of `owner`'s experiments are queued, with this session's moves."""
    stored = session.scalar(select(OwnerUsage.queued).where(OwnerUsage.owner == owner))
    return int(stored or 0) + _pending(session, owner)[1]


def recharge(ids: Sequence[int], *, session: Session) -> None:
    """Bring these rows' charged_points to what they count now and move their owners' trace
    points by the difference. Call it after the change, in its transaction (the rows are locked)."""
    if not ids:
        return
    rows = session.execute(
        select(Experiment.id, Experiment.owner, Experiment.charged_points, charge_of()).where(
            Experiment.id.in_(ids)
        )
    ).all()
    for experiment_id, owner, was, now in rows:
        if now != was:
            session.execute(
                update(Experiment)
                .where(Experiment.id == experiment_id)
                .values(charged_points=now)
                .execution_options(synchronize_session=False)
            )
            charge(owner, points=int(now) - int(was), session=session)


def discharge(removed: Iterable[tuple[str, int, Status]], *, session: Session) -> None:
    """Deleted rows, as (owner, charged_points, status) from the DELETE's RETURNING, count no
    more."""
    for owner, charged, status in removed:
        charge(owner, points=-int(charged), queued=-int(status == Status.queued), session=session)


def charge_of() -> Any:
    """What a row is charged, as SQL (the module docstring's rule)."""
    stored = (
        select(func.coalesce(func.sum(TraceChunk.points), 0))
        .where(TraceChunk.experiment_id == Experiment.id)
        .scalar_subquery()
    )
    estimated = and_(Experiment.status.in_(ACTIVE), Experiment.trace_points.is_not(None))
    return case((estimated, Experiment.trace_points), else_=stored)


def recount(*, session: Session) -> dict[str, tuple[int, int]]:
    """Every owner's (trace points, queued) derived from the rows alone, owners with neither
    left out."""
    is_queued = case((Experiment.status == Status.queued, 1), else_=0)
    totals = session.execute(
        select(Experiment.owner, func.sum(charge_of()), func.sum(is_queued)).group_by(
            Experiment.owner
        )
    ).all()
    counts = {owner: (int(points or 0), int(n or 0)) for owner, points, n in totals}
    return {owner: count for owner, count in counts.items() if any(count)}


def rebuild(*, session: Session) -> dict[str, tuple[int, int]]:
    """Set every row's charge and every owner's counters from the rows alone, after rows were
    changed behind the service's back (a DELETE in SQL); the caller commits. Exact beside live
    traffic on PostgreSQL: the counter table is locked first, so a transaction that moves a
    counter waits, and its rows, uncommitted until then, are not in these sums but in its own
    moves. Returns the new counters."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE owner_usage IN EXCLUSIVE MODE"))
    else:
        locks.lock_writer(session=session)
    session.execute(
        update(Experiment)
        .values(charged_points=charge_of())
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(OwnerUsage))
    totals = recount(session=session)
    if totals:
        session.execute(
            insert(OwnerUsage),
            [{"owner": o, "trace_points": p, "queued": n} for o, (p, n) in totals.items()],
        )
    return totals


def counters(*, session: Session) -> dict[str, tuple[int, int]]:
    """The stored (trace points, queued) per owner, owners with neither left out."""
    rows = session.execute(select(OwnerUsage.owner, OwnerUsage.trace_points, OwnerUsage.queued))
    return {owner: (int(p), int(n)) for owner, p, n in rows if p or n}


def _pending(session: Session, owner: str) -> list[int]:
    return session.info.get(_MOVES, {}).get(owner, [0, 0])


@event.listens_for(Session, "before_commit")
def _apply(session: Session) -> None:
    moves: dict[str, list[int]] = session.info.pop(_MOVES, None) or {}
    if not moves:  # every commit of every session comes here: most move nothing
        return
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for owner in sorted(moves):
        points, queued = moves[owner]
        if points or queued:
            statement = upsert(OwnerUsage).values(owner=owner, trace_points=points, queued=queued)
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=[OwnerUsage.owner],
                    set_={
                        "trace_points": OwnerUsage.trace_points + statement.excluded.trace_points,
                        "queued": OwnerUsage.queued + statement.excluded.queued,
                    },
                )
            )


@event.listens_for(Session, "after_transaction_end")
def _drop(session: Session, transaction: SessionTransaction) -> None:
    # A rollback or a close ends the outermost transaction without committing its moves.
    if transaction.parent is None and not transaction.nested:
        session.info.pop(_MOVES, None)
