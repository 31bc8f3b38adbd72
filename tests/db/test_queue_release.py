"""db.queue.release: a stopping worker gives its running attempt back to the queue."""

from __future__ import annotations

from sqlalchemy.orm import Session
from test_queue import T0, MakeExperiment, _claim, _get

from db import queue


def test_release_requeues_the_attempt_without_using_one_up(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment(max_attempts=3)
    _claim(session, experiment_id)
    assert queue.release(experiment_id, session=session, attempt=1, now=T0)
    session.commit()
    experiment = _get(session, experiment_id)
    assert experiment.status == "queued" and experiment.error is None
    assert (experiment.worker, experiment.lease_expires_at, experiment.dispatched_at) == (
        None,
        None,
        None,
    )
    assert (experiment.attempt, experiment.max_attempts) == (1, 4)
    again = _claim(session, experiment_id, worker="w2")  # the next worker takes it at once
    assert again is not None and again.attempt == 2


def test_release_by_an_attempt_that_lost_the_experiment_changes_nothing(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment()
    _claim(session, experiment_id)
    assert not queue.release(experiment_id, session=session, attempt=2, now=T0)
    session.commit()
    assert _get(session, experiment_id).status == "running"


def test_release_with_a_cancel_requested_cancels(
    session: Session, make_experiment: MakeExperiment
) -> None:
    experiment_id = make_experiment()
    _claim(session, experiment_id)
    queue.request_cancel(experiment_id, session=session)
    assert queue.release(experiment_id, session=session, attempt=1, now=T0)
    session.commit()
    experiment = _get(session, experiment_id)
    assert experiment.status == "cancelled" and experiment.finished_at == T0
