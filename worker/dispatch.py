"""The periodic maintenance behind `silab.maintain`: the reaper and the dispatcher, as plain
functions of a sessionmaker and a `send` callable, so they are tested without a broker.

- Reaper: running experiments whose lease expired (their worker died) are requeued (or failed
  when their attempts are exhausted, or cancelled when a cancel was pending); see db.queue.reap.
- Dispatcher: as many queued experiments as there are free worker slots (SILAB_WORKER_SLOTS
  minus running minus sent-but-unclaimed) are sent, picked by the fair rule of db.scheduler
  (priority, then users take turns, FIFO within a user, per-user running limits). Those never
  sent (the broker was down at submission, or the reaper just requeued them) and those sent
  longer than resend_after_s ago (the message may be lost) are candidates. A duplicate message
  is harmless: the claim lets one run.

The reaper runs first, so an experiment it requeues is sent in the same round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from db import queue, scheduler

log = logging.getLogger(__name__)


@dataclass
class MaintainReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    dispatched: list[int] = field(default_factory=list)
    send_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reap_expired(sessions: sessionmaker[Session]) -> queue.ReapReport:
    """Requeue (or fail, or cancel) the running experiments whose lease expired."""
    with sessions() as session:
        report = queue.reap(session=session)
        session.commit()
    if report:
        log.warning(
            "reaper: requeued %s, failed %s, cancelled %s",
            report.requeued,
            report.failed,
            report.cancelled,
        )
    return report


def dispatch_queued(
    sessions: sessionmaker[Session],
    send: Callable[[list[int]], None],
    *,
    resend_after_s: float,
    slots: int,
    default_max_running: int | None = None,
    limit: int = 100,
) -> tuple[list[int], str | None]:
    """Send as many queued experiments as there are free worker slots, chosen by the fair rule
    (db.scheduler); returns (ids sent, send error or None).

    Stops at the first send that fails (the broker is down: the rest would fail too); what was
    not sent is unmarked and tried again next round.
    """
    return scheduler.dispatch_round(
        sessions,
        send,
        slots=slots,
        default_max_running=default_max_running,
        resend_after_s=resend_after_s,
        limit=limit,
    )


def maintain(
    sessions: sessionmaker[Session],
    send: Callable[[list[int]], None],
    *,
    reap: bool = True,
    dispatch: bool = True,
    resend_after_s: float,
    slots: int,
    default_max_running: int | None = None,
    limit: int = 100,
) -> MaintainReport:
    """One maintenance round: reap, then dispatch."""
    report = MaintainReport()
    if reap:
        reaped = reap_expired(sessions)
        report.requeued, report.failed, report.cancelled = (
            reaped.requeued,
            reaped.failed,
            reaped.cancelled,
        )
    if dispatch:
        report.dispatched, report.send_error = dispatch_queued(
            sessions,
            send,
            resend_after_s=resend_after_s,
            slots=slots,
            default_max_running=default_max_running,
            limit=limit,
        )
    return report
