"""db.usage on SQLite and PostgreSQL: each owner's counters (trace points, queued) equal what
their rows add up to (db.usage.recount) after every change the queue makes, and a transaction
that does not commit moves nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from db import queue, usage
from db.models import Experiment

T0 = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)

MakeExperiment = Callable[..., int]


def _counted(session: Session) -> dict[str, tuple[int, int]]:
    """The counters (trace points, queued), checked against the rows they summarize."""
    session.commit()
    counters = usage.counters(session=session)
    assert counters == usage.recount(session=session)
    return counters


def _claim(session: Session, experiment_id: int, now: datetime = T0) -> None:
    assert queue.claim(experiment_id, session=session, worker="w", lease_seconds=60, now=now)
    session.commit()


def _store(session: Session, experiment_id: int, *, attempt: int, points: int) -> None:
    rows = [
        {"seed": 0, "phase": "phase1", "step": step, "samples": step, "test_mse": 1.0}
        for step in range(points)
    ]
    queue.write_trace(experiment_id, session=session, attempt=attempt, rows=rows)


def _finish(session: Session, experiment_id: int, *, attempt: int = 1) -> None:
    assert queue.finish(
        experiment_id,
        session=session,
        attempt=attempt,
        status="completed",
        summary={},
        result={"status": "completed"},
    )


def test_queued_rows_count_their_estimate_and_ended_ones_what_they_stored(
    session: Session, make_experiment: MakeExperiment
) -> None:
    first = make_experiment(owner="alice", trace_points=100)
    make_experiment(owner="alice", trace_points=50)
    make_experiment(owner="bob", trace_points=70)
    assert _counted(session) == {"alice": (150, 2), "bob": (70, 1)}

    _claim(session, first)
    _store(session, first, attempt=1, points=30)
    assert _counted(session) == {"alice": (150, 1), "bob": (70, 1)}  # running: still its estimate
    _finish(session, first)
    assert _counted(session) == {"alice": (80, 1), "bob": (70, 1)}


def test_cancel_fail_reap_release_and_retry_each_keep_the_counter_true(
    session: Session, make_experiment: MakeExperiment
) -> None:
    queued = make_experiment(owner="alice", trace_points=40)
    assert queue.cancel(queued, session=session)  # queued → cancelled: nothing stored
    assert _counted(session) == {}
    assert queue.retry(queued, session=session)
    assert _counted(session) == {"alice": (40, 1)}

    _claim(session, queued)
    _store(session, queued, attempt=1, points=12)
    assert queue.fail(queued, session=session, attempt=1, error="boom")
    assert _counted(session) == {"alice": (12, 0)}
    assert queue.retry(queued, session=session, from_scratch=True)
    assert _counted(session) == {"alice": (40, 1)}

    # A lease that expires requeues (both active: no change), then exhausts the attempts.
    _claim(session, queued)
    assert queue.reap(session=session, now=T0 + timedelta(seconds=61)).requeued == [queued]
    assert _counted(session) == {"alice": (40, 1)}
    later = T0 + timedelta(minutes=5)
    _claim(session, queued, now=later)
    assert queue.release(queued, session=session, attempt=3)
    assert _counted(session) == {"alice": (40, 1)}
    _claim(session, queued, now=later)
    _store(session, queued, attempt=4, points=5)
    assert queue.request_cancel(queued, session=session) is not None
    assert queue.mark_cancelled(queued, session=session, attempt=4)
    assert _counted(session) == {"alice": (5, 0)}


def test_a_reaped_run_that_exhausted_its_attempts_counts_its_stored_points(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment(owner="carol", trace_points=90, max_attempts=1)
    _claim(session, experiment_id)
    _store(session, experiment_id, attempt=1, points=7)
    session.commit()
    assert queue.reap(session=session, now=T0 + timedelta(seconds=61)).failed == [experiment_id]
    assert _counted(session) == {"carol": (7, 0)}


def test_a_row_without_an_estimate_counts_what_it_stores_when_it_ends(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment(owner="dan", trace_points=None)
    _claim(session, experiment_id)
    _store(session, experiment_id, attempt=1, points=9)
    _finish(session, experiment_id)
    assert _counted(session) == {"dan": (9, 0)}


def test_a_rolled_back_change_moves_no_counter(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment(owner="erin", trace_points=60)
    assert queue.cancel(experiment_id, session=session)
    assert usage.held("erin", session=session) == 0  # this session sees its own moves
    assert usage.queued("erin", session=session) == 0
    session.rollback()
    assert _counted(session) == {"erin": (60, 1)}
    assert session.get(Experiment, experiment_id, populate_existing=True).status == "queued"
    usage.charge("erin", points=1_000, queued=1, session=session)
    session.close()  # ends the transaction without a commit
    assert _counted(session) == {"erin": (60, 1)}


def test_rebuild_puts_the_counters_back_after_rows_were_deleted_in_sql(
    session: Session, make_experiment: MakeExperiment
) -> None:
    kept = make_experiment(owner="fay", trace_points=25)
    make_experiment(owner="fay", trace_points=30)
    session.execute(delete(Experiment).where(Experiment.id != kept))  # behind the service's back
    session.commit()
    assert usage.counters(session=session) == {"fay": (55, 2)}  # stale
    assert usage.rebuild(session=session) == {"fay": (25, 1)}
    assert _counted(session) == {"fay": (25, 1)}
