"""A dispatch round: plan the groups, mark and commit them, then send (and unmark what the
broker refused). The one place in db/ that commits, since it must commit before sending."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import text, update
from sqlalchemy.orm import Session, sessionmaker

from db.models import Experiment, Status
from db.scheduler.groups import GroupLimits, plan_groups
from db.types import now_utc as _now

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key of a dispatch round ("silab" in ASCII, as an integer).
DISPATCH_LOCK_KEY = 0x73696C6162


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
