"""The queue: the queries the API and the worker share.

Every state change of an experiment is ONE conditional UPDATE (see docs/design.md): whoever's
UPDATE matches the row wins, everyone else gets 0 rows and backs off. That makes a redelivered
task, a second worker, a zombie attempt that lost its lease and two reapers running at once all
harmless.

Conventions:
- The caller owns the transaction: nothing here commits. Commit right after a claim, a
  heartbeat, a trace write, a checkpoint or a finish (each is meant to be its own transaction;
  holding one open keeps row locks on PostgreSQL and the write lock on SQLite).
- Arguments after the experiment id are keyword-only, `session` included.
- `now` (timezone-aware) may be passed to any function that looks at the clock; the default is
  the current UTC time. Naive datetimes are refused.
- "Not found" is None or False, never an exception; bad arguments raise ValueError.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db import traces
from db.models import Checkpoint, Experiment, Status
from db.session import rowcount
from db.types import now_utc as _now

# A retry gives the experiment this many more attempts.
DEFAULT_RETRY_ATTEMPTS = 3
# The summary columns of `experiment`, filled by `finish` from `summary_from_result`.
SUMMARY_COLUMNS = (
    "final_mean_abs_m",
    "final_median_abs_m",
    "final_max_abs_m",
    "test_mse",
    "weak_recovery_samples",
    "weak_recovery_fraction",
    "held_recovery_samples",
    "held_recovery_fraction",
    "wall_time_s",
    "samples_per_second",
    "device",
    "torch_version",
)
# Statuses a run can end in through `finish`.
FINISH_STATUSES = (Status.completed, Status.diverged, Status.cancelled)
# Statuses `retry` puts back in the queue.
RETRYABLE = (Status.failed, Status.cancelled, Status.diverged)
# Longest error text kept.
MAX_ERROR_CHARS = 20_000


@dataclass(frozen=True)
class HeartbeatReply:
    """alive=False: the attempt lost its lease (reaped, finished or superseded): stop, write
    nothing more. cancel_requested=True: stop at the next chance and call `mark_cancelled`."""

    alive: bool
    cancel_requested: bool


@dataclass
class ReapReport:
    """What one `reap` did: ids requeued, failed (attempts exhausted), cancelled (a cancel had
    been requested; nobody will finish it)."""

    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed or self.cancelled)


# ---------------------------------------------------------------------------------------------
# Worker side: claim, heartbeat, trace, checkpoint, finish


def claim(
    experiment_id: int,
    *,
    session: Session,
    worker: str,
    lease_seconds: float,
    now: datetime | None = None,
) -> Experiment | None:
    """Start the next attempt of a queued experiment: status queued → running, attempt + 1,
    a lease until now + lease_seconds, started_at = now (the start of THIS attempt).

    Returns the experiment (fresh from the database; `.attempt` is the attempt to run), or None
    when it is not queued (already claimed by another delivery, cancelled, finished, unknown) or
    a cancel was requested. Commit at once: on PostgreSQL a concurrent claim waits on the row
    lock until then, and afterwards matches 0 rows.
    """
    now = _now(now)
    claimed = _update(
        session,
        and_(
            Experiment.id == experiment_id,
            Experiment.status == Status.queued,
            Experiment.cancel_requested.is_(False),
        ),
        status=Status.running,
        attempt=Experiment.attempt + 1,
        worker=worker[:200],
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        heartbeat_at=now,
        started_at=now,
        finished_at=None,
        error=None,
        updated_at=now,
    )
    if not claimed:
        return None
    return session.get(Experiment, experiment_id, populate_existing=True)


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
        .where(_running_attempt(experiment_id, attempt))
        .values(**values)
        .returning(Experiment.cancel_requested)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return HeartbeatReply(alive=False, cancel_requested=False)
    return HeartbeatReply(alive=True, cancel_requested=bool(row[0]))


def trace_rows(
    *,
    phase: str,
    step: int,
    samples: int,
    seeds: Sequence[int],
    metrics: Mapping[str, Sequence[float | None]],
) -> list[dict[str, Any]]:
    """One evaluation point of the trainer (per-seed metric lists, like
    trainer.results.EvalPoint) as rows for `write_trace`, one per seed. Pure dict work."""
    rows = []
    for index, seed in enumerate(seeds):
        row: dict[str, Any] = {"seed": seed, "phase": phase, "step": step, "samples": samples}
        for name, values in metrics.items():
            row[name] = values[index]
        rows.append(row)
    return rows


def write_trace(
    experiment_id: int,
    *,
    session: Session,
    attempt: int,
    rows: Iterable[Mapping[str, Any]],
) -> None:
    """Add loose trace points (rows of seed, phase, step, samples and metrics, e.g. from
    `trace_rows`); a point already stored (same experiment, seed, phase, step) is left as it is,
    so a repeated batch adds no duplicates. Non-finite numbers are stored as "not measured".
    Read-modify-write of the touched chunks (db.traces.merge_points); the worker keeps its open
    chunks in memory instead (db.traces.OpenChunks)."""
    traces.merge_points(experiment_id, session=session, attempt=attempt, rows=rows)


def save_checkpoint(
    experiment_id: int,
    *,
    session: Session,
    attempt: int,
    samples: int,
    state: bytes,
    now: datetime | None = None,
) -> bool:
    """Store the latest resumable state (one row per experiment; a save replaces it).

    Only the running attempt may save: returns False (and stores nothing) when (id, attempt) is
    not running, so a zombie attempt cannot overwrite the checkpoint of its successor.
    """
    now = _now(now)
    owner = session.execute(
        select(Experiment.id).where(_running_attempt(experiment_id, attempt))
    ).first()
    if owner is None:
        return False
    insert = _insert_for(session)
    statement = insert(Checkpoint).values(
        experiment_id=experiment_id, attempt=attempt, samples=samples, state=state, created_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=["experiment_id"],
        set_={
            "attempt": statement.excluded.attempt,
            "samples": statement.excluded.samples,
            "state": statement.excluded.state,
            "created_at": statement.excluded.created_at,
        },
    )
    session.execute(statement)
    return True


def load_checkpoint(experiment_id: int, *, session: Session) -> Checkpoint | None:
    """The latest checkpoint of the experiment, or None."""
    return session.execute(
        select(Checkpoint)
        .where(Checkpoint.experiment_id == experiment_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


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
    now = _now(now)
    values: dict[str, Any] = {name: _json_safe(summary.get(name)) for name in SUMMARY_COLUMNS}
    if isinstance(result.get("samples"), int):
        values["samples_done"] = result["samples"]
    return _update(
        session,
        _running_attempt(experiment_id, attempt),
        status=status,
        result=_json_safe(dict(result)),
        error=diverged_error(result) if status == Status.diverged.value else None,
        lease_expires_at=None,
        finished_at=now,
        updated_at=now,
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
    now = _now(now)
    values: dict[str, Any] = {}
    if result is not None:
        values["result"] = _json_safe(dict(result))
    if samples_done is not None:
        values["samples_done"] = samples_done
    return _update(
        session,
        _running_attempt(experiment_id, attempt),
        status=Status.failed,
        error=_clip(error),
        lease_expires_at=None,
        finished_at=now,
        updated_at=now,
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
    now = _now(now)
    values: dict[str, Any] = {}
    if samples_done is not None:
        values["samples_done"] = samples_done
    return _update(
        session,
        _running_attempt(experiment_id, attempt),
        status=Status.cancelled,
        lease_expires_at=None,
        finished_at=now,
        updated_at=now,
        **values,
    )


# ---------------------------------------------------------------------------------------------
# API side: cancel and retry


def cancel(experiment_id: int, *, session: Session, now: datetime | None = None) -> bool:
    """Cancel an experiment. queued → cancelled at once (it never starts); running →
    cancel_requested=True (the worker sees it in its next heartbeat, stops and calls
    `mark_cancelled`); a finished experiment is left unchanged.

    Returns whether a conditional UPDATE matched (False: no such id, or it has finished).
    """
    now = _now(now)
    return _update(
        session,
        and_(Experiment.id == experiment_id, Experiment.status == Status.queued),
        status=Status.cancelled,
        cancel_requested=True,
        finished_at=now,
        updated_at=now,
    ) or _update(
        session,
        and_(Experiment.id == experiment_id, Experiment.status == Status.running),
        cancel_requested=True,
        updated_at=now,
    )


def request_cancel(
    experiment_id: int, *, session: Session, now: datetime | None = None
) -> Experiment | None:
    """`cancel`, then the experiment as it is afterwards (fresh from the database), or None if
    there is no such id."""
    cancel(experiment_id, session=session, now=now)
    return session.get(Experiment, experiment_id, populate_existing=True)


def retry(
    experiment_id: int,
    *,
    session: Session,
    extra_attempts: int = DEFAULT_RETRY_ATTEMPTS,
    from_scratch: bool = False,
    now: datetime | None = None,
) -> bool:
    """failed / cancelled / diverged → queued, with a renewed attempt budget
    (max_attempts = attempt + extra_attempts). Clears error, result, the summary columns,
    finished_at, the lease, the worker, cancel_requested and dispatched_at (so the dispatcher
    sends it).

    The trace and the checkpoint are kept: the next attempt resumes from the checkpoint and its
    points dedupe against the stored ones. from_scratch=True deletes both (and samples_done),
    e.g. after a change that makes the old numbers wrong.

    Returns True when requeued; False when there is no such id or it is not in a retryable state
    (queued, running, completed).
    """
    if extra_attempts < 1:
        raise ValueError("extra_attempts must be at least 1")
    now = _now(now)
    values: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS)
    if from_scratch:
        values["samples_done"] = 0
    requeued = _update(
        session,
        and_(
            Experiment.id == experiment_id,
            Experiment.status.in_(RETRYABLE),
        ),
        status=Status.queued,
        max_attempts=Experiment.attempt + extra_attempts,
        error=None,
        result=None,
        finished_at=None,
        lease_expires_at=None,
        worker=None,
        cancel_requested=False,
        dispatched_at=None,
        updated_at=now,
        **values,
    )
    if requeued and from_scratch:
        traces.remove(experiment_id, session=session)
        session.execute(delete(Checkpoint).where(Checkpoint.experiment_id == experiment_id))
    return requeued


# ---------------------------------------------------------------------------------------------
# Maintenance (celery beat's silab.maintain): the reaper (dispatching is db.scheduler's)


def reap(*, session: Session, now: datetime | None = None) -> ReapReport:
    """Deal with running experiments whose lease expired before `now` (the worker died or hung):

    - a cancel was requested → cancelled (nobody is left to stop it);
    - attempt < max_attempts → queued again (worker, lease and dispatched_at cleared, so the
      dispatcher re-sends it; the next attempt resumes from the checkpoint);
    - otherwise → failed, error "lease expired on attempt k of n (worker w): attempts exhausted".

    Each change is conditional on (id, attempt, status='running', lease still expired), so a
    heartbeat that lands first, or a second reaper, wins cleanly.
    """
    now = _now(now)
    report = ReapReport()
    expired = session.execute(
        select(
            Experiment.id,
            Experiment.attempt,
            Experiment.max_attempts,
            Experiment.worker,
            Experiment.cancel_requested,
        )
        .where(Experiment.status == Status.running, Experiment.lease_expires_at < now)
        .order_by(Experiment.id)
    ).all()
    for experiment_id, attempt, max_attempts, worker, cancel_requested in expired:
        still_expired = and_(
            _running_attempt(experiment_id, attempt), Experiment.lease_expires_at < now
        )
        outcome: list[int]
        values: dict[str, Any]
        if cancel_requested:
            outcome, values = (
                report.cancelled,
                {"status": Status.cancelled, "finished_at": now},
            )
        elif attempt < max_attempts:
            outcome = report.requeued
            values = {"status": Status.queued, "worker": None, "dispatched_at": None}
        else:
            outcome = report.failed
            error = (
                f"lease expired on attempt {attempt} of {max_attempts} (worker {worker}): "
                "attempts exhausted"
            )
            values = {"status": Status.failed, "error": error, "finished_at": now}
        if _update(session, still_expired, lease_expires_at=None, updated_at=now, **values):
            outcome.append(experiment_id)
    return report


# ---------------------------------------------------------------------------------------------
# The summary columns


def summary_from_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """The summary columns from a result dict (trainer.results.Result.to_dict()). Pure dict work.

    - final_mean_abs_m, final_median_abs_m, final_max_abs_m, test_mse: the median over seeds of
      the per-seed values, ignoring seeds where it is missing or not finite (None if none has one).
    - weak_recovery_samples: the median over ALL seeds, a seed that never reached weak recovery
      counting as +infinity; None when that median is infinite, i.e. when half of the seeds or
      more never reached it. So it reads "the typical seed reached weak recovery after this many
      samples", and is never flattered by leaving out the seeds that failed.
    - weak_recovery_fraction: the fraction of seeds that reached weak recovery (None if no seeds).
    - held_recovery_samples, held_recovery_fraction: the same for held recovery (median |m|
      reached eval.held_threshold and never fell below eval.held_floor afterwards). Every
      censored seed is censored at the same budget, beyond every observed time, so this median
      is the Kaplan–Meier median whenever it is not itself censored.
    - wall_time_s, samples_per_second, device, torch_version: copied (non-finite → None).
    """
    seeds = list(result.get("seeds") or [])
    summary: dict[str, Any] = {}
    for column in ("final_mean_abs_m", "final_median_abs_m", "final_max_abs_m", "test_mse"):
        values = [v for v in (_finite_or_none(s.get(column)) for s in seeds) if v is not None]
        summary[column] = statistics.median(values) if values else None
    for name in ("weak_recovery", "held_recovery"):
        if seeds:
            reached = [_finite_or_none(s.get(f"{name}_samples")) for s in seeds]
            median = statistics.median([math.inf if v is None else v for v in reached])
            summary[f"{name}_samples"] = median if math.isfinite(median) else None
            summary[f"{name}_fraction"] = sum(v is not None for v in reached) / len(seeds)
        else:
            summary[f"{name}_samples"] = None
            summary[f"{name}_fraction"] = None
    summary["wall_time_s"] = _finite_or_none(result.get("wall_time_s"))
    summary["samples_per_second"] = _finite_or_none(result.get("samples_per_second"))
    summary["device"] = _short(result.get("device"))
    summary["torch_version"] = _short(result.get("torch_version"))
    return summary


# ---------------------------------------------------------------------------------------------
# Helpers


def _running_attempt(experiment_id: int, attempt: int) -> Any:
    return and_(
        Experiment.id == experiment_id,
        Experiment.attempt == attempt,
        Experiment.status == Status.running,
    )


def _update(session: Session, where: Any, **values: Any) -> bool:
    """One conditional UPDATE of experiment; True when it matched a row."""
    result = session.execute(
        update(Experiment)
        .where(where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) > 0


def _insert_for(session: Session) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"no upsert for the {name} dialect")


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats by None (PostgreSQL's JSON has no NaN or Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _short(value: Any) -> str | None:
    return None if value is None else str(value)[:64]


def _clip(error: str) -> str:
    if len(error) <= MAX_ERROR_CHARS:
        return error
    return error[: MAX_ERROR_CHARS - 20] + "\n… (truncated)"
