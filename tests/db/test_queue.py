"""db.queue on SQLite and PostgreSQL: every transition, its conditions, and the clock."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from db import queue, scheduler, traces
from db.models import Checkpoint, Experiment

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
# The same instants written with another offset: SQLite stores strings, and a comparison must
# still be between instants.
PLUS5 = timezone(timedelta(hours=5))

MakeExperiment = Callable[..., int]


def _get(session: Session, experiment_id: int) -> Experiment:
    experiment = session.get(Experiment, experiment_id, populate_existing=True)
    assert experiment is not None
    return experiment


def _claim(session: Session, experiment_id: int, now: datetime = T0, worker: str = "w1"):
    experiment = queue.claim(
        experiment_id, session=session, worker=worker, lease_seconds=60, now=now
    )
    session.commit()
    return experiment


# ---------------------------------------------------------------------------------------------
# claim


def test_claim_starts_an_attempt_and_a_second_claim_gets_none(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment()
    experiment = _claim(session, experiment_id)
    assert experiment is not None
    assert (experiment.status, experiment.attempt, experiment.worker) == ("running", 1, "w1")
    assert experiment.lease_expires_at == T0 + timedelta(seconds=60)
    assert experiment.lease_expires_at.tzinfo is not None
    assert experiment.started_at == T0

    assert _claim(session, experiment_id, worker="w2") is None
    assert _get(session, experiment_id).worker == "w1"


def test_claim_of_cancelled_unknown_or_finished_gets_none(
    session: Session, make_experiment: MakeExperiment
) -> None:
    cancelled = make_experiment()
    queue.request_cancel(cancelled, session=session)
    session.commit()
    assert _claim(session, cancelled) is None
    assert _claim(session, 10_000) is None
    done = make_experiment(status="completed")
    assert _claim(session, done) is None
    flagged = make_experiment(cancel_requested=True)
    assert _claim(session, flagged) is None


def _race_to_claim(
    session_factory: sessionmaker[Session], experiment_id: int, contenders: int
) -> list[str]:
    """Claim from `contenders` threads released at once; the names of those who won."""
    barrier = threading.Barrier(contenders)
    winners: list[str] = []
    errors: list[BaseException] = []

    def contend(worker: str) -> None:
        try:
            with session_factory() as session:
                barrier.wait()
                claimed = queue.claim(
                    experiment_id, session=session, worker=worker, lease_seconds=60
                )
                session.commit()
                if claimed is not None:
                    winners.append(worker)
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=contend, args=(f"w{i}",)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return winners


def test_concurrent_claims_have_exactly_one_winner(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    for _ in range(10):
        experiment_id = make_experiment()
        winners = _race_to_claim(session_factory, experiment_id, contenders=4)
        assert len(winners) == 1
        with session_factory() as session:
            experiment = _get(session, experiment_id)
            assert (experiment.attempt, experiment.worker) == (1, winners[0])


# ---------------------------------------------------------------------------------------------
# heartbeat and the reaper


def test_heartbeat_extends_the_lease_and_reports_cancel(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment()
    _claim(session, experiment_id)
    later = T0 + timedelta(seconds=30)
    reply = queue.heartbeat(
        experiment_id, session=session, attempt=1, lease_seconds=60, samples_done=500, now=later
    )
    session.commit()
    assert reply == queue.HeartbeatReply(alive=True, cancel_requested=False)
    experiment = _get(session, experiment_id)
    assert experiment.lease_expires_at == later + timedelta(seconds=60)
    assert experiment.samples_done == 500

    queue.request_cancel(experiment_id, session=session)
    session.commit()
    reply = queue.heartbeat(experiment_id, session=session, attempt=1, lease_seconds=60)
    assert reply == queue.HeartbeatReply(alive=True, cancel_requested=True)
    wrong = queue.heartbeat(experiment_id, session=session, attempt=2, lease_seconds=60)
    assert wrong.alive is False


def test_heartbeat_after_reap_is_dead_and_the_next_attempt_owns_it(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment()
    _claim(session, experiment_id)
    report = queue.reap(session=session, now=T0 + timedelta(seconds=61))
    session.commit()
    assert report.requeued == [experiment_id]
    assert (
        queue.heartbeat(experiment_id, session=session, attempt=1, lease_seconds=60).alive is False
    )
    second = _claim(session, experiment_id, now=T0 + timedelta(seconds=70), worker="w2")
    assert second is not None and second.attempt == 2
    assert (
        queue.heartbeat(experiment_id, session=session, attempt=1, lease_seconds=60).alive is False
    )
    assert (
        queue.heartbeat(experiment_id, session=session, attempt=2, lease_seconds=60).alive is True
    )


def test_reap_compares_instants_not_strings(
    session: Session, make_experiment: MakeExperiment
) -> None:
    """Lease written with a +05:00 datetime, reaper clock in UTC (and the other way round)."""
    experiment_id = make_experiment()
    _claim(session, experiment_id, now=T0.astimezone(PLUS5))  # lease until T0 + 60 s
    assert not queue.reap(session=session, now=T0 + timedelta(seconds=59))
    assert not queue.reap(session=session, now=(T0 + timedelta(seconds=60)).astimezone(PLUS5))
    assert _get(session, experiment_id).lease_expires_at == T0 + timedelta(seconds=60)
    assert queue.reap(session=session, now=T0 + timedelta(seconds=60, microseconds=1)).requeued == [
        experiment_id
    ]


def test_reap_requeues_until_attempts_are_exhausted_then_fails_with_the_reason(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment(max_attempts=2)
    other = make_experiment()  # a healthy running experiment is left alone
    now = T0
    for attempt in (1, 2):
        assert _claim(session, experiment_id, now=now, worker=f"w{attempt}") is not None
        _claim(session, other, now=now) if attempt == 1 else None
        queue.heartbeat(other, session=session, attempt=1, lease_seconds=3600, now=now)
        _set_dispatched(session, experiment_id, now)  # the reaper must clear it
        now += timedelta(seconds=61)
        report = queue.reap(session=session, now=now)
        session.commit()
        experiment = _get(session, experiment_id)
        if attempt == 1:
            assert report.requeued == [experiment_id] and not report.failed
            assert experiment.status == "queued"
            assert (experiment.worker, experiment.lease_expires_at) == (None, None)
            assert experiment.dispatched_at is None
        else:
            assert report.failed == [experiment_id] and not report.requeued
            assert experiment.status == "failed"
            assert experiment.error == (
                "lease expired on attempt 2 of 2 (worker w2): attempts exhausted"
            )
            assert experiment.finished_at == now
    assert _get(session, other).status == "running"


def test_reap_of_a_running_experiment_with_a_cancel_request_cancels_it(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment()
    _claim(session, experiment_id)
    queue.request_cancel(experiment_id, session=session)
    report = queue.reap(session=session, now=T0 + timedelta(minutes=5))
    session.commit()
    assert report.cancelled == [experiment_id]
    assert _get(session, experiment_id).status == "cancelled"


# ---------------------------------------------------------------------------------------------
# trace points and checkpoints


def _points(session: Session, experiment_id: int) -> list[tuple]:
    stored = traces.points(session=session, experiment_id=experiment_id)
    return sorted(
        ((p["seed"], p["phase"], p["step"], p.get("mean_abs_m")) for p in stored),
        key=lambda p: (p[1], p[2], p[0]),
    )


def test_write_trace_twice_with_overlap_has_no_duplicates(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment()
    first = queue.trace_rows(
        phase="phase1",
        step=10,
        samples=100,
        seeds=[0, 1],
        metrics={"mean_abs_m": [0.1, 0.2], "train_loss": [1.0, math.nan]},
    )
    first += queue.trace_rows(
        phase="phase1", step=20, samples=200, seeds=[0, 1], metrics={"mean_abs_m": [0.3, 0.4]}
    )
    queue.write_trace(experiment_id, session=session, attempt=1, rows=first)
    session.commit()
    # A resumed attempt re-emits step 20 (identical numbers) and goes on to step 40.
    second = queue.trace_rows(
        phase="phase1", step=20, samples=200, seeds=[0, 1], metrics={"mean_abs_m": [0.3, 0.4]}
    )
    second += queue.trace_rows(
        phase="phase1", step=40, samples=400, seeds=[0, 1], metrics={"mean_abs_m": [0.5, 0.6]}
    )
    queue.write_trace(experiment_id, session=session, attempt=2, rows=second)
    queue.write_trace(experiment_id, session=session, attempt=2, rows=second)
    session.commit()
    assert _points(session, experiment_id) == [
        (0, "phase1", 10, 0.1),
        (1, "phase1", 10, 0.2),
        (0, "phase1", 20, 0.3),
        (1, "phase1", 20, 0.4),
        (0, "phase1", 40, 0.5),
        (1, "phase1", 40, 0.6),
    ]
    stored = traces.points(session=session, experiment_id=experiment_id)
    losses = [p["train_loss"] for p in stored if p["step"] == 10]
    assert losses == [1.0, None]  # nan is stored as NULL, on both backends


def test_write_trace_spans_chunks_and_repeats_add_nothing(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment()
    rows = [
        {"seed": 0, "phase": "phase1", "step": step, "samples": step, "test_mse": 1.0}
        for step in range(traces.CHUNK_POINTS * 2 + 5)
    ]
    queue.write_trace(experiment_id, session=session, attempt=1, rows=rows)
    queue.write_trace(experiment_id, session=session, attempt=1, rows=rows[-10:])
    queue.write_trace(experiment_id, session=session, attempt=1, rows=[])
    session.commit()
    assert traces.count_points(session=session, experiment_id=experiment_id) == len(rows)
    assert [p["step"] for p in traces.points(session=session, experiment_id=experiment_id)] == [
        r["step"] for r in rows
    ]


def test_checkpoint_upsert_keeps_one_row_and_refuses_a_zombie(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment()
    assert queue.load_checkpoint(experiment_id, session=session) is None
    # Nobody runs it yet: nothing can be saved.
    assert not queue.save_checkpoint(
        experiment_id, session=session, attempt=1, samples=1, state=b"x"
    )
    _claim(session, experiment_id)
    for samples, state in ((100, b"\x00first"), (200, b"\x00second" * 1000)):
        assert queue.save_checkpoint(
            experiment_id, session=session, attempt=1, samples=samples, state=state
        )
        session.commit()
    checkpoint = queue.load_checkpoint(experiment_id, session=session)
    assert checkpoint is not None
    assert (checkpoint.attempt, checkpoint.samples) == (1, 200)
    assert checkpoint.state == b"\x00second" * 1000
    assert session.scalar(select(func.count()).select_from(Checkpoint)) == 1

    queue.reap(session=session, now=T0 + timedelta(seconds=61))
    _claim(session, experiment_id, now=T0 + timedelta(seconds=62), worker="w2")
    assert not queue.save_checkpoint(
        experiment_id, session=session, attempt=1, samples=300, state=b"zombie"
    )
    assert queue.save_checkpoint(
        experiment_id, session=session, attempt=2, samples=250, state=b"second attempt"
    )
    session.commit()
    checkpoint = queue.load_checkpoint(experiment_id, session=session)
    assert checkpoint is not None
    assert (checkpoint.attempt, checkpoint.samples, checkpoint.state) == (2, 250, b"second attempt")


# ---------------------------------------------------------------------------------------------
# finish, fail, mark_cancelled


RESULT = {
    "status": "completed",
    "message": "",
    "seeds": [
        {
            "seed": 0,
            "weak_recovery_samples": 1000,
            "final_mean_abs_m": 0.9,
            "final_median_abs_m": 0.91,
            "final_max_abs_m": 0.99,
            "test_mse": 0.01,
        },
        {
            "seed": 1,
            "weak_recovery_samples": None,
            "final_mean_abs_m": 0.1,
            "final_median_abs_m": 0.11,
            "final_max_abs_m": 0.3,
            "test_mse": math.nan,
        },
        {
            "seed": 2,
            "weak_recovery_samples": 3000,
            "final_mean_abs_m": 0.8,
            "final_median_abs_m": 0.81,
            "final_max_abs_m": 0.95,
            "test_mse": 0.03,
        },
    ],
    "samples": 5000,
    "steps": 500,
    "wall_time_s": 2.5,
    "device": "cpu",
    "torch_version": "2.5.0",
    "samples_per_second": 2000.0,
    "extra": {"inf": math.inf},
}


def test_finish_is_conditional_on_the_running_attempt(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment()
    summary = queue.summary_from_result(RESULT)
    kwargs = {"session": session, "status": "completed", "summary": summary, "result": RESULT}
    assert not queue.finish(experiment_id, attempt=1, **kwargs)  # not running yet
    _claim(session, experiment_id)
    assert not queue.finish(experiment_id, attempt=2, **kwargs)
    assert queue.finish(experiment_id, attempt=1, now=T0 + timedelta(seconds=5), **kwargs)
    session.commit()
    assert not queue.finish(experiment_id, attempt=1, **kwargs)  # only once
    experiment = _get(session, experiment_id)
    assert experiment.status == "completed"
    assert experiment.finished_at == T0 + timedelta(seconds=5)
    assert experiment.lease_expires_at is None
    assert experiment.final_mean_abs_m == pytest.approx(0.8)
    assert experiment.test_mse == pytest.approx(0.02)
    assert experiment.weak_recovery_samples == 3000
    assert experiment.weak_recovery_fraction == pytest.approx(2 / 3)
    assert experiment.samples_done == 5000
    assert experiment.device == "cpu"
    assert experiment.result is not None
    assert experiment.result["extra"] == {"inf": None}
    assert experiment.result["seeds"][1]["test_mse"] is None


def test_finish_rejects_bad_arguments(session: Session, make_experiment: MakeExperiment) -> None:
    experiment_id = make_experiment()
    with pytest.raises(ValueError):
        queue.finish(
            experiment_id, session=session, attempt=1, status="failed", summary={}, result={}
        )
    with pytest.raises(ValueError, match="bogus"):
        queue.finish(
            experiment_id,
            session=session,
            attempt=1,
            status="completed",
            summary={"bogus": 1},
            result={},
        )
    with pytest.raises(ValueError, match="naive"):
        naive = datetime(2026, 1, 1)  # noqa: DTZ001 (the refused input under test)
        queue.claim(experiment_id, session=session, worker="w", lease_seconds=1, now=naive)


def test_fail_and_mark_cancelled_are_conditional(
    session: Session, make_experiment: MakeExperiment
) -> None:
    failing = make_experiment()
    _claim(session, failing)
    assert not queue.fail(failing, session=session, attempt=2, error="no")
    assert queue.fail(failing, session=session, attempt=1, error="boom" * 10_000)
    session.commit()
    experiment = _get(session, failing)
    assert experiment.status == "failed"
    assert experiment.error is not None and len(experiment.error) <= queue.MAX_ERROR_CHARS
    assert not queue.mark_cancelled(failing, session=session, attempt=1)
    # Commit (or roll back) even after a no-op: on SQLite the UPDATE took the write lock.
    session.commit()

    stopping = make_experiment()
    _claim(session, stopping)
    queue.request_cancel(stopping, session=session)
    assert queue.mark_cancelled(stopping, session=session, attempt=1, samples_done=42)
    session.commit()
    experiment = _get(session, stopping)
    assert (experiment.status, experiment.samples_done) == ("cancelled", 42)


# ---------------------------------------------------------------------------------------------
# cancel and retry (API side)


def test_request_cancel_of_queued_running_terminal_and_unknown(
    session: Session, make_experiment: MakeExperiment
) -> None:
    queued = make_experiment()
    experiment = queue.request_cancel(queued, session=session)
    assert experiment is not None and experiment.status == "cancelled"
    assert experiment.finished_at is not None
    session.commit()

    running = make_experiment()
    _claim(session, running)
    experiment = queue.request_cancel(running, session=session)
    assert experiment is not None
    assert (experiment.status, experiment.cancel_requested) == ("running", True)
    session.commit()

    done = make_experiment(status="completed")
    experiment = queue.request_cancel(done, session=session)
    assert experiment is not None
    assert (experiment.status, experiment.cancel_requested) == ("completed", False)

    assert queue.request_cancel(10_000, session=session) is None
    session.commit()


def test_retry_renews_the_budget_and_keeps_trace_and_checkpoint(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment(max_attempts=1)
    _claim(session, experiment_id)
    queue.write_trace(
        experiment_id,
        session=session,
        attempt=1,
        rows=[{"seed": 0, "phase": "phase1", "step": 1, "samples": 1}],
    )
    queue.save_checkpoint(experiment_id, session=session, attempt=1, samples=1, state=b"s")
    _set_dispatched(session, experiment_id, T0)  # the retry must clear it
    queue.reap(session=session, now=T0 + timedelta(hours=1))
    session.commit()
    assert _get(session, experiment_id).status == "failed"

    assert queue.retry(experiment_id, session=session)
    session.commit()
    experiment = _get(session, experiment_id)
    assert (experiment.status, experiment.attempt, experiment.max_attempts) == ("queued", 1, 4)
    assert (experiment.error, experiment.result, experiment.dispatched_at) == (None, None, None)
    assert experiment.finished_at is None
    assert len(_points(session, experiment_id)) == 1
    assert queue.load_checkpoint(experiment_id, session=session) is not None
    assert scheduler.plan_groups(
        session=session, slots=10, default_max_running=None, resend_after_s=60
    ) == [[experiment_id]]
    assert not queue.retry(experiment_id, session=session)  # queued: nothing to retry
    assert _claim(session, experiment_id) is not None

    cancelled = make_experiment()
    queue.request_cancel(cancelled, session=session)
    queue.write_trace(
        cancelled,
        session=session,
        attempt=1,
        rows=[{"seed": 0, "phase": "phase1", "step": 1, "samples": 1}],
    )
    assert queue.retry(cancelled, session=session, from_scratch=True)
    session.commit()
    experiment = _get(session, cancelled)
    assert (experiment.status, experiment.cancel_requested) == ("queued", False)
    assert _points(session, cancelled) == []

    assert not queue.retry(make_experiment(status="completed"), session=session)
    assert not queue.retry(10_000, session=session)


# ---------------------------------------------------------------------------------------------
# summary_from_result (pure)


def test_summary_medians_and_weak_recovery() -> None:
    summary = queue.summary_from_result(RESULT)
    assert summary["final_mean_abs_m"] == pytest.approx(0.8)
    assert summary["test_mse"] == pytest.approx(0.02)  # nan seed ignored
    assert summary["weak_recovery_samples"] == 3000  # median of 1000, 3000, inf
    assert summary["weak_recovery_fraction"] == pytest.approx(2 / 3)
    assert (summary["wall_time_s"], summary["samples_per_second"]) == (2.5, 2000.0)
    assert (summary["device"], summary["torch_version"]) == ("cpu", "2.5.0")
    assert set(summary) == set(queue.SUMMARY_COLUMNS)


@pytest.mark.parametrize(
    ("reached", "expected"),
    [
        ([100, None], None),  # half never: the median is infinite
        ([100, 300, None, None], None),
        ([100, 300, 500, None], 400),
        ([None], None),
        ([200], 200),
    ],
)
def test_summary_weak_recovery_counts_never_as_infinity(reached, expected) -> None:
    seeds = [{"seed": i, "weak_recovery_samples": r} for i, r in enumerate(reached)]
    summary = queue.summary_from_result({"seeds": seeds})
    assert summary["weak_recovery_samples"] == expected
    assert summary["weak_recovery_fraction"] == sum(r is not None for r in reached) / len(reached)


def test_summary_of_an_empty_result() -> None:
    summary = queue.summary_from_result({})
    assert all(value is None for value in summary.values())


def _set_dispatched(session: Session, experiment_id: int, when: datetime) -> None:
    session.execute(
        update(Experiment).where(Experiment.id == experiment_id).values(dispatched_at=when)
    )


def test_summary_held_recovery_is_the_median_with_censored_seeds_counted() -> None:
    seeds = [{"seed": i, "held_recovery_samples": r} for i, r in enumerate([100, 300, None])]
    summary = queue.summary_from_result({"seeds": seeds})
    assert summary["held_recovery_samples"] == 300  # median of 100, 300, censored
    assert summary["held_recovery_fraction"] == pytest.approx(2 / 3)
    seeds.append({"seed": 3, "held_recovery_samples": None})
    assert queue.summary_from_result({"seeds": seeds})["held_recovery_samples"] is None


def test_a_diverged_run_says_why_in_error(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment()
    _claim(session, experiment_id)
    result = {**RESULT, "status": "diverged", "message": "diverged at step 120 (2 of 3 seeds)"}
    summary = queue.summary_from_result(result)
    assert queue.finish(
        experiment_id, session=session, attempt=1, status="diverged", summary=summary, result=result
    )
    session.commit()
    experiment = session.get(Experiment, experiment_id)
    assert experiment is not None and experiment.status == "diverged"
    assert experiment.error is not None
    assert experiment.error.startswith("diverged at step 120 (2 of 3 seeds)")
    assert queue.diverged_error({"seeds": [{"diverged_at_step": 3}, {}]}).startswith(
        "diverged (1 of 2 seeds)"
    )
