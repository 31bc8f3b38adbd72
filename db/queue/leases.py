"""The heartbeat: a running attempt extends its lease, and learns whether to go on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from db.models import Experiment
from db.queue.conditional import running_attempt
from db.types import now_utc as _now


@dataclass(frozen=True)
class HeartbeatReply:
    """alive=False: the attempt lost its lease (reaped, finished or superseded): stop, write
    nothing more. cancel_requested=True: stop at the next chance and call `mark_cancelled`."""

    alive: bool
    cancel_requested: bool


def heartbeat(
    experiment_id: int,
    *,
    session: Session,
    attempt: int,
    lease_seconds: float,
    samples_done: int | None = None,
    now: datetime | None = None,
) -> HeartbeatReply:
    """Extend the lease of a running attempt (and record progress).

    Conditional on (id, attempt, status='running'): 0 rows → `alive=False`, the attempt was
    reaped or superseded and must stop without writing anything else.
    """
    now = _now(now)
    values: dict[str, Any] = {
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
        "heartbeat_at": now,
        "updated_at": now,
    }
    if samples_done is not None:
        values["samples_done"] = samples_done
    row = session.execute(
        update(Experiment)
        .where(running_attempt(experiment_id, attempt))
        .values(**values)
        .returning(Experiment.cancel_requested)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return HeartbeatReply(alive=False, cancel_requested=False)
    return HeartbeatReply(alive=True, cancel_requested=bool(row[0]))
