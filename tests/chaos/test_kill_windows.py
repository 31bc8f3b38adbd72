"""kill -9 of a run worker in the two windows a random kill rarely hits, each reached on purpose,
not by timing luck:

- during a checkpoint write: the test holds the experiment's checkpoint row locked (SELECT …
  FOR UPDATE), so the worker's next checkpoint transaction, which has already upserted the
  trace chunks before it, waits on that lock; PostgreSQL shows the backend waiting
  (pg_stat_activity), and the worker is killed right there, its transaction open. Nothing of
  it may land: the next attempt resumes from the checkpoint before it, and the points of the
  open transaction are emitted again, once.
- during Phase II: a Phase II of 8·10⁶ samples (seconds of ridge accumulation, with no
  checkpoint and no trace point until its end) after a Phase I whose last point moves
  samples_done to Phase I's budget; the worker is killed once the row says that, while the row
  is still running. The next attempt replays Phase I's tail from its last checkpoint, then
  Phase II.

Both end with every experiment completed, every trace point once, and results and trace values
bit-identical to an uninterrupted run (CPU)."""

from __future__ import annotations

import re
import signal
import time
from typing import Any

import pytest
from chaos_helpers import Work, differences, explain, figures, key, submit, wait_final
from e2e_helpers import Proc, Stack, wait_until
from spec_factory import small_spec
from sqlalchemy import text

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(900)]

# One slot: the first experiment is usually sent alone (the submit's doorbell round runs before
# the second is stored), and the second waits for the slot; either way every run must complete.
SETTINGS = {"SILAB_WORKER_SLOTS": "1", "SILAB_LOST_AFTER_S": "5"}
PHASE1_STEPS = 60_000  # batch 1: Phase I's budget in samples too
PHASE2_SAMPLES = 8_000_000

ACTIVITY = text(
    "SELECT pid, state, wait_event_type, wait_event, left(query, 120) FROM pg_stat_activity"
    " WHERE datname = current_database()"
)
WAITING_CHECKPOINT = text(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO checkpoint%'"
)


def _waiting_checkpoint_writes(stack: Stack) -> list[int]:
    # A fresh transaction each time: pg_stat_activity is a snapshot per transaction.
    with stack.sessions()() as probe:
        return list(probe.execute(WAITING_CHECKPOINT).scalars())


def _activity(stack: Stack) -> str:
    """Every backend of the scenario's database: what it runs and what it waits for."""
    with stack.sessions()() as probe:
        rows = probe.execute(ACTIVITY).all()
    return "\n".join(["pg_stat_activity:", *(str(tuple(row)) for row in rows), explain(stack)])


def _resumed_at(worker: Proc, experiment_id: int) -> int | None:
    found = re.search(
        rf"experiment {experiment_id}: resuming from the checkpoint at (\d+) samples",
        worker.tail(10_000),
    )
    return int(found.group(1)) if found else None


def _start(stack: Stack, work: Work) -> tuple[str, dict[str, str], list[int], Proc]:
    api = stack.api(**SETTINGS)
    headers = key(stack)
    stack.worker("maintain", queue="silab.maintain", **SETTINGS)
    worker = stack.worker("run1", queue="celery", beat=False, **SETTINGS)
    ids = [submit(api, headers, work.spec, work.budget(1))[0] for _ in range(2)]
    return api, headers, ids, worker


def _recover(
    stack: Stack, work: Work, ids: list[int], victim: int, killed_at: float
) -> tuple[Proc, dict[str, Any]]:
    """A replacement worker; the figures of the recovery and of the whole run."""
    replacement = stack.worker("run2", queue="celery", beat=False, **SETTINGS)
    budget = work.budget(len(ids) + 1, extra_s=60)
    wait_until(
        lambda: stack.experiment(victim).attempt > 1,
        budget,
        f"experiment {victim} reclaimed",
        lambda: explain(stack),
    )
    reclaim_s = time.monotonic() - killed_at
    stack.wait_status(victim, {"completed", "diverged", "failed", "cancelled"}, budget)
    completed_s = time.monotonic() - killed_at
    wait_final(stack, ids, budget)
    counts = {
        **figures(stack, ids, work),
        **differences(stack, ids, work),
        "reclaim_s": round(reclaim_s, 1),
        "kill_to_completed_s": round(completed_s, 1),
    }
    return replacement, counts


def _assert_whole(counts: dict[str, Any], ids: list[int], stack: Stack) -> None:
    assert counts["completed"] == len(ids), (counts, explain(stack))
    assert counts["lost"] == counts["failed"] == 0, counts
    assert counts["duplicated_points"] == counts["missing_points"] == 0, counts
    assert counts["results_differing"] == counts["points_differing"] == 0, counts


def test_run_worker_killed_during_a_checkpoint_write(chaos_stack, record) -> None:
    stack = chaos_stack
    work = Work.measure(small_spec(steps=PHASE1_STEPS, points=12))
    _, _, ids, worker = _start(stack, work)
    victim = ids[0]
    stack.wait_checkpoint(victim, work.budget(1))

    holder = stack.sessions()()
    try:
        # The latest committed checkpoint, locked until this transaction ends: the worker's
        # next checkpoint write blocks on it, mid-transaction.
        locked = holder.execute(
            text("SELECT samples FROM checkpoint WHERE experiment_id = :id FOR UPDATE"),
            {"id": victim},
        ).scalar_one()
        blocked = wait_until(
            lambda: _waiting_checkpoint_writes(stack),
            work.budget(1),
            "the worker's checkpoint write to wait on the locked row",
            lambda: _activity(stack),
        )
        before = stack.experiment(victim)
        worker.kill(signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        holder.rollback()
        holder.close()
    assert (before.status, before.attempt) == ("running", 1), explain(stack)

    def gone() -> bool:  # its backend sees the dead client and aborts the transaction
        with stack.sessions()() as probe:
            pids = probe.execute(text("SELECT pid FROM pg_stat_activity")).scalars().all()
            return not set(blocked) & set(pids)

    wait_until(gone, work.budget(1), "the killed worker's backend to end", lambda: explain(stack))
    with stack.sessions()() as session:
        stored = session.execute(
            text("SELECT samples FROM checkpoint WHERE experiment_id = :id"), {"id": victim}
        ).scalar_one()
    assert stored == locked, "the killed transaction's checkpoint landed"

    replacement, counts = _recover(stack, work, ids, victim, killed_at)
    resumed = _resumed_at(replacement, victim)
    record(
        **counts,
        checkpoint_locked_at_samples=locked,
        resumed_from_samples=resumed,
        phase1_samples=PHASE1_STEPS,
    )
    _assert_whole(counts, ids, stack)
    assert resumed == locked, (resumed, locked, explain(stack))


def test_run_worker_killed_during_phase_2(chaos_stack, record) -> None:
    stack = chaos_stack
    spec = small_spec(steps=PHASE1_STEPS, points=12)
    spec["phase2"] = {"samples": PHASE2_SAMPLES}
    work = Work.measure(spec)
    _, _, ids, worker = _start(stack, work)
    victim = ids[0]

    def in_phase2() -> Any:
        row = stack.experiment(victim)
        at_end = row.status == "running" and row.samples_done >= PHASE1_STEPS
        return row if at_end else None

    seen = wait_until(in_phase2, work.budget(1), "Phase II to begin", lambda: explain(stack))
    worker.kill(signal.SIGKILL)
    killed_at = time.monotonic()
    after = stack.experiment(victim)
    # Still running with no result: the kill landed in Phase II, before the final write.
    assert (after.status, after.attempt, after.result) == ("running", seen.attempt, None), explain(
        stack
    )
    with stack.sessions()() as session:
        phase2_points = session.execute(
            text("SELECT count(*) FROM trace_chunk WHERE experiment_id = :id AND phase = 'phase2'"),
            {"id": victim},
        ).scalar_one()
    assert phase2_points == 0, "Phase II had already ended"

    replacement, counts = _recover(stack, work, ids, victim, killed_at)
    resumed = _resumed_at(replacement, victim)
    record(
        **counts,
        phase1_samples=PHASE1_STEPS,
        phase2_samples=PHASE2_SAMPLES,
        resumed_from_samples=resumed,
        uninterrupted_run_s=round(work.seconds, 1),
    )
    _assert_whole(counts, ids, stack)
    assert resumed is not None and resumed < PHASE1_STEPS, (resumed, explain(stack))
