"""How an attempt ends: its Outcome, and the end of the run written with its last trace
points (retried while the database is unreachable, worker/final_write.py)."""

from __future__ import annotations

import enum
import traceback

from celery.utils.log import get_task_logger
from sqlalchemy.orm import Session, sessionmaker

from db import queue
from db.models import Status
from trainer.results import Result, RunStatus
from worker import final_write
from worker.callbacks import RunCallbacks

log = get_task_logger(__name__)

# Lines of traceback kept in `error`, after the one-line message.
TRACEBACK_LINES = 30


class Outcome(enum.StrEnum):
    """What one delivery did to one experiment (logged, and returned to the tests)."""

    not_claimed = "not claimed"  # not queued, or another delivery claimed it first
    lost_lease = "lost lease"  # reaped or superseded meanwhile: nothing more written
    completed = Status.completed.value
    diverged = Status.diverged.value
    cancelled = Status.cancelled.value
    failed = Status.failed.value
    timed_out = RunStatus.timed_out.value  # stored as failed, the limit in its error
    handed_back = "handed back"  # the worker stopped mid-run: queued again, to resume


def persist(
    experiment_id: int,
    attempt: int,
    result: Result,
    callbacks: RunCallbacks,
    *,
    sessions: sessionmaker[Session],
    retry_for_s: float,
) -> Outcome:
    """The last trace points and the end of the run, in one transaction, retried while the
    database is unreachable (worker/final_write.py)."""
    if callbacks.lost:
        log.warning(
            "experiment %s attempt %s lost its lease; not recording its end", experiment_id, attempt
        )
        return Outcome.lost_lease
    document = result.to_dict()

    def write(session: Session) -> bool:
        callbacks.write_pending(session)
        if result.status == RunStatus.cancelled:
            return queue.mark_cancelled(
                experiment_id, session=session, attempt=attempt, samples_done=result.samples
            )
        if result.status == RunStatus.timed_out:
            # failed, not a status of its own: the run did not finish, and `error` says why
            # ("wall-clock limit of N s reached after M samples"); the partial result is kept.
            return queue.fail(
                experiment_id,
                session=session,
                attempt=attempt,
                error=result.message,
                result=document,
                samples_done=result.samples,
            )
        return queue.finish(
            experiment_id,
            session=session,
            attempt=attempt,
            status=Status(result.status),
            summary=queue.summary_from_result(document),
            result=document,
        )

    done = final_write.land(
        write,
        sessions=sessions,
        what=f"experiment {experiment_id} attempt {attempt}: {result.status}",
        retry_for_s=retry_for_s,
    )
    if not done:
        return Outcome.lost_lease
    log.info("experiment %s attempt %s: %s", experiment_id, attempt, result.status)
    return Outcome(result.status)


def flush_quietly(callbacks: RunCallbacks) -> None:
    try:
        callbacks.flush()
    except Exception:  # the failure being recorded matters more
        log.exception("could not write the last trace points")


def error_text(error: BaseException) -> str:
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    tail = "".join(lines[-TRACEBACK_LINES:])
    return f"{type(error).__name__}: {error}\n\n{tail}"
