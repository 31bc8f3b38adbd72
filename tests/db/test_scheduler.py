"""db.scheduler: the fair dispatcher and queue positions, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from db import queue, scheduler
from db.models import Account, Experiment

MakeExperiment = Callable[..., int]


def _round(sessions: sessionmaker[Session], slots: int = 1, **kwargs) -> list[int]:
    sent: list[int] = []
    ids, error = scheduler.dispatch_round(
        sessions,
        sent.extend,
        slots=slots,
        default_max_running=kwargs.pop("max_running", None),
        resend_after_s=600,
        **kwargs,
    )
    assert error is None and ids == sent
    return ids


def _run_and_finish(sessions: sessionmaker[Session], ids: list[int]) -> None:
    """A worker claims each sent experiment and completes it: its slot frees."""
    with sessions() as session:
        for experiment_id in ids:
            claimed = queue.claim(experiment_id, session=session, worker="w", lease_seconds=60)
            claimed = claimed or session.get(Experiment, experiment_id)  # already running
            queue.finish(
                experiment_id,
                session=session,
                attempt=claimed.attempt,
                status="completed",
                summary={},
                result={},
            )
        session.commit()


def _owner(sessions: sessionmaker[Session], experiment_id: int) -> str:
    with sessions() as session:
        return session.get(Experiment, experiment_id).owner


def test_a_late_single_user_is_not_starved_by_a_200_experiment_sweep(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    a_ids = [make_experiment(owner="a") for _ in range(200)]
    first = _round(session_factory)
    assert first == [a_ids[0]]  # one slot: one message, the oldest of A
    _run_and_finish(session_factory, first)
    b_ids = [make_experiment(owner="b") for _ in range(2)]
    order: list[int] = []
    for _ in range(4):
        sent = _round(session_factory)
        assert len(sent) == 1
        order += sent
        _run_and_finish(session_factory, sent)
    # B's first experiment goes next (A just had the slot), then they take turns; FIFO each.
    assert order == [b_ids[0], a_ids[1], b_ids[1], a_ids[2]]


def test_only_free_slots_are_filled_and_in_flight_messages_count_as_busy(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    ids = [make_experiment(owner=f"u{i % 3}") for i in range(9)]
    with session_factory() as session:
        queue.claim(ids[0], session=session, worker="w", lease_seconds=60)
        session.commit()
    sent = _round(session_factory, slots=3)
    assert len(sent) == 2  # 3 slots, one running
    assert _round(session_factory, slots=3) == []  # the two sent are on their way
    # users take turns: u0 runs one, so u1 and u2 get the free slots
    assert {_owner(session_factory, i) for i in sent} == {"u1", "u2"}


def test_a_message_older_than_the_resend_interval_is_sent_again(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    stale = make_experiment(dispatched_at=datetime.now(UTC) - timedelta(hours=1))
    assert _round(session_factory) == [stale]


def test_the_plan_skips_cancelled_finished_and_running_and_goes_by_priority_then_age(
    session: Session, make_experiment: MakeExperiment
) -> None:
    low = make_experiment(priority=0)
    high = make_experiment(priority=5)
    low2 = make_experiment(priority=0)
    make_experiment(cancel_requested=True)
    make_experiment(status="completed")
    running = make_experiment(priority=9)
    queue.claim(running, session=session, worker="w", lease_seconds=60)
    session.commit()
    kwargs = {"session": session, "slots": 10, "default_max_running": None, "resend_after_s": 60}
    assert scheduler.plan_groups(**kwargs) == [[high], [low], [low2]]
    assert scheduler.plan_groups(**kwargs, limit=2) == [[high], [low]]


def test_higher_priority_first_and_a_user_at_their_limit_is_skipped(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    low = make_experiment(owner="a", priority=-10)
    normal = make_experiment(owner="b", priority=0)
    high = [make_experiment(owner="c", priority=10) for _ in range(3)]
    with session_factory() as session:
        session.add(Account(name="c", role="member", max_running=1))
        session.commit()
    # c is limited to one running: its first high one, then the normal, then the low one.
    assert _round(session_factory, slots=3) == [high[0], normal, low]
    assert _round(session_factory, slots=10) == []  # c is at its limit
    # the lab default applies to users without their own limit
    d = [make_experiment(owner="d") for _ in range(3)]
    assert _round(session_factory, slots=10, max_running=2) == d[:2]


def test_a_refused_send_unmarks_the_rest(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    ids = [make_experiment(owner=name) for name in ("a", "b", "c")]
    calls: list[list[int]] = []

    def flaky(experiment_ids: list[int]) -> None:
        calls.append(experiment_ids)
        if len(calls) == 2:
            raise ConnectionRefusedError("broker down")

    sent, error = scheduler.dispatch_round(
        session_factory, flaky, slots=3, default_max_running=None, resend_after_s=600
    )
    assert sent == [ids[0]] and "broker down" in error
    with session_factory() as session:
        assert [session.get(Experiment, i).dispatched_at is None for i in ids] == [
            False,
            True,
            True,
        ]
    assert _round(session_factory, slots=3) == ids[1:]


def test_position_counts_higher_priority_own_older_and_other_users_turns(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    a = [make_experiment(owner="a") for _ in range(5)]
    b = [make_experiment(owner="b") for _ in range(2)]
    high = make_experiment(owner="c", priority=10)
    with session_factory() as session:
        running = queue.claim(a[0], session=session, worker="w", lease_seconds=60)
        assert running is not None
        session.commit()

        def where(experiment_id: int) -> scheduler.Position:
            found = scheduler.position(
                experiment_id,
                session=session,
                slots=1,
                default_max_running=None,
                resend_after_s=600,
            )
            assert found is not None
            return found

        # b[0]: the high one, then b's turn (a already runs one)
        assert where(b[0]).position == 2
        assert set(where(b[0]).waiting_for) == {"worker slots", "higher priority"}
        # a[1]: high, then b[0] (b has fewer running), then a[1]
        assert where(a[1]).position == 3 and "turn" in where(a[1]).waiting_for
        assert where(high).position == 1
        assert where(a[0]).position is None and where(a[0]).status == "running"
        assert (
            scheduler.position(
                424242, session=session, slots=1, default_max_running=None, resend_after_s=600
            )
            is None
        )
        # The estimate agrees with what the dispatcher then does.
    order = []
    for _ in range(4):
        _run_and_finish(session_factory, [a[0]] if not order else order[-1:])
        order += _round(session_factory)
    assert order == [high, b[0], a[1], b[1]]


def test_position_names_the_running_limit(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    first, second = make_experiment(owner="a"), make_experiment(owner="a")
    assert _round(session_factory, slots=5, max_running=1) == [first]
    with session_factory() as session:
        sent = scheduler.position(
            first, session=session, slots=5, default_max_running=1, resend_after_s=600
        )
        assert sent.in_flight and sent.waiting_for == ["a worker to claim it"]
        waiting = scheduler.position(
            second, session=session, slots=5, default_max_running=1, resend_after_s=600
        )
        assert waiting.waiting_for == ["running limit"] and waiting.owner_max_running == 1


def test_concurrent_rounds_never_hand_out_more_than_the_free_slots(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    for i in range(20):
        make_experiment(owner=f"u{i % 4}")
    results: list[list[int]] = []
    barrier = threading.Barrier(4)

    def one() -> None:
        barrier.wait()
        results.append(_round(session_factory, slots=3))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    sent = [i for ids in results for i in ids]
    assert len(sent) == 3 and len(set(sent)) == 3
