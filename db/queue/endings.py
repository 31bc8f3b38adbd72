"""The end of an attempt, written by the worker that ran it: finish (completed, diverged or
cancelled, with the result), fail (an error) and mark_cancelled (stopped on request). Each is
conditional on the attempt still owning the experiment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from db.models import SUMMARY_COLUMNS, Status
from db.queue.conditional import running_attempt, update_where
from db.queue.summary import json_safe
from db.types import now_utc as _now

# Statuses a run can end in through `finish`.
FINISH_STATUSES = (Status.completed, Status.diverged, Status.cancelled)
# Longest error text kept.
MAX_ERROR_CHARS = 20_000


def finish(
    experiment_id: int,
    *,
    session: Session,
    attempt: int,
    status: Status | str,
    summary: Mapping[str, Any],
    result: Mapping[str, Any],
    now: datetime | None = None,
) -> bool:
    """Record the end of a run: status (completed, diverged or cancelled), the summary columns
    (see `summary_from_result`), the full `result` (non-finite floats become null) and
    finished_at, in one UPDATE conditional on (id, attempt, status='running'). A diverged run's
    `error` says so (the trainer's message: at which step, how many seeds), never null.

    Returns False when the attempt no longer owns the experiment (reaped, cancelled while queued
    again, …): then nothing is written.
    """
    status = Status(status)
    if status not in FINISH_STATUSES:
        raise ValueError(f"finish takes one of {', '.join(FINISH_STATUSES)}, not {status}")
    unknown = set(summary) - set(SUMMARY_COLUMNS)
    if unknown:
        raise ValueError(f"unknown summary fields: {sorted(unknown)}")
    values: dict[str, Any] = {name: json_safe(summary.get(name)) for name in SUMMARY_COLUMNS}
    samples = result.get("samples")
    return _end(
        session,
        experiment_id,
        attempt,
        status=status,
        now=now,
        samples_done=samples if isinstance(samples, int) else None,
        result=json_safe(dict(result)),
        error=diverged_error(result) if status == Status.diverged.value else None,
        **values,
    )


def diverged_error(result: Mapping[str, Any]) -> str:
    """Why a diverged run stopped, for `error`: the trainer's message, else a count of seeds."""
    message = str(result.get("message") or "").strip()
    if message:
        return _clip(message + ": a non-finite value stopped those seeds (a smaller step helps)")
    seeds = list(result.get("seeds") or [])
    count = sum(s.get("diverged_at_step") is not None for s in seeds)
    return f"diverged ({count} of {len(seeds)} seeds): a non-finite value stopped them"


def fail(
    experiment_id: int,
    *,
    session: Session,
    attempt: int,
    error: str,
    result: Mapping[str, Any] | None = None,
    samples_done: int | None = None,
    now: datetime | None = None,
) -> bool:
    """running → failed with the error text (truncated to MAX_ERROR_CHARS), conditional on
    (id, attempt, status='running'). No retry by itself: an error is assumed to repeat; the user
    retries. A run stopped by its wall-clock limit also keeps its partial `result` and how far
    it got (`samples_done`); the summary columns stay empty, as it did not finish. Returns False
    when the attempt no longer owns the experiment."""
    values: dict[str, Any] = {}
    if result is not None:
        values["result"] = json_safe(dict(result))
    return _end(
        session,
        experiment_id,
        attempt,
        status=Status.failed,
        now=now,
        samples_done=samples_done,
        error=_clip(error),
        **values,
    )


def mark_cancelled(
    experiment_id: int,
    *,
    session: Session,
    attempt: int,
    samples_done: int | None = None,
    now: datetime | None = None,
) -> bool:
    """running → cancelled for an attempt that stopped because a cancel was requested (its trace
    and checkpoint are kept). Conditional on (id, attempt, status='running')."""
    return _end(
        session,
        experiment_id,
        attempt,
        status=Status.cancelled,
        now=now,
        samples_done=samples_done,
    )


def _end(
    session: Session,
    experiment_id: int,
    attempt: int,
    *,
    status: Status,
    now: datetime | None,
    samples_done: int | None,
    **values: Any,
) -> bool:
    """The one UPDATE every ending is: conditional on the attempt still owning the experiment,
    it sets the status and `values`, ends the lease and stamps finished_at; samples_done only
    when it is known."""
    now = _now(now)
    if samples_done is not None:
        values["samples_done"] = samples_done
    return update_where(
        session,
        running_attempt(experiment_id, attempt),
        came_from=(Status.running,),
        status=status,
        lease_expires_at=None,
        finished_at=now,
        updated_at=now,
        **values,
    )


def _clip(error: str) -> str:
    if len(error) <= MAX_ERROR_CHARS:
        return error
    return error[: MAX_ERROR_CHARS - 20] + "\n… (truncated)"
