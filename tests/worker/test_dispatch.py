"""worker.dispatch (the body of silab.maintain) with a fake `send`, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from db import queue
from db.models import Experiment
from worker import dispatch

AddExperiment = Callable[..., int]
# Enough worker slots that the fair dispatcher sends everything waiting (tests/db/test_scheduler.py
# covers the slot arithmetic and the fair order).
ROUND = {"resend_after_s": 600, "slots": 10}


def _get(sessions: sessionmaker[Session], experiment_id: int) -> Experiment:
    with sessions() as session:
        experiment = session.get(Experiment, experiment_id)
        assert experiment is not None
        return experiment


def test_dispatch_sends_undispatched_queued_experiments_once(
    session_factory: sessionmaker[Session], add_experiment: AddExperiment
) -> None:
    first, second = add_experiment(), add_experiment()
    already = add_experiment(dispatched_at=datetime.now(UTC))
    cancelled = add_experiment()
    with session_factory() as session:
        queue.request_cancel(cancelled, session=session)
        session.commit()
    sent: list[int] = []

    ids, error = dispatch.dispatch_queued(session_factory, sent.extend, **ROUND)

    assert ids == sent == [first, second]
    assert error is None
    assert _get(session_factory, first).dispatched_at is not None
    assert _get(session_factory, already).dispatched_at is not None
    # Marked: the next round sends nothing.
    assert dispatch.dispatch_queued(session_factory, sent.extend, **ROUND) == ([], None)


def test_dispatch_resends_a_message_that_may_be_lost(
    session_factory: sessionmaker[Session], add_experiment: AddExperiment
) -> None:
    stale = add_experiment(dispatched_at=datetime.now(UTC) - timedelta(hours=1))
    sent: list[int] = []
    assert dispatch.dispatch_queued(session_factory, sent.extend, **ROUND)[0] == [stale]


def test_a_broker_that_refuses_leaves_the_rest_for_the_next_round(
    session_factory: sessionmaker[Session], add_experiment: AddExperiment
) -> None:
    first, second, third = add_experiment(), add_experiment(), add_experiment()
    calls: list[list[int]] = []

    def flaky(experiment_ids: list[int]) -> None:
        calls.append(experiment_ids)
        if second in experiment_ids:
            raise ConnectionRefusedError("broker down")

    ids, error = dispatch.dispatch_queued(session_factory, flaky, **ROUND)
    assert ids == [first]
    assert calls == [[first], [second]]  # stops at the first refusal
    assert error is not None and "broker down" in error
    assert _get(session_factory, second).dispatched_at is None
    assert _get(session_factory, third).dispatched_at is None
    sent: list[int] = []
    assert dispatch.dispatch_queued(session_factory, sent.extend, **ROUND)[0] == [second, third]


def test_maintain_reaps_then_dispatches_the_requeued_experiment(
    session_factory: sessionmaker[Session], add_experiment: AddExperiment
) -> None:
    experiment_id = add_experiment(dispatched_at=datetime.now(UTC))
    with session_factory() as session:
        # A claim whose lease is already over: its worker died.
        assert queue.claim(experiment_id, session=session, worker="dead", lease_seconds=-1)
        session.commit()
    sent: list[int] = []

    report = dispatch.maintain(session_factory, sent.extend, **ROUND)

    assert report.requeued == [experiment_id]
    assert report.dispatched == sent == [experiment_id]
    experiment = _get(session_factory, experiment_id)
    assert (experiment.status, experiment.attempt) == ("queued", 1)
    assert report.as_dict()["requeued"] == [experiment_id]


def test_maintain_can_skip_either_half(
    session_factory: sessionmaker[Session], add_experiment: AddExperiment
) -> None:
    experiment_id = add_experiment()
    sent: list[int] = []
    report = dispatch.maintain(session_factory, sent.extend, dispatch=False, **ROUND)
    assert (report.dispatched, sent) == ([], [])
    report = dispatch.maintain(session_factory, sent.extend, reap=False, **ROUND)
    assert report.dispatched == [experiment_id]
