"""Fused groups: a group is the longest prefix of the fair order whose members share the head's
shape_key, capped by GroupLimits; it holds one slot and travels as one message."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from db import queue, scheduler
from db.models import Experiment
from db.scheduler import GroupLimits

MakeExperiment = Callable[..., int]
WIDE = GroupLimits(max_experiments=10, memory_gb=100.0)


def _round(sessions: sessionmaker[Session], slots: int = 1, groups: GroupLimits = WIDE):
    messages: list[list[int]] = []
    sent, error = scheduler.dispatch_round(
        sessions,
        messages.append,
        slots=slots,
        default_max_running=None,
        resend_after_s=600,
        groups=groups,
    )
    assert error is None and sent == [i for m in messages for i in m]
    return messages


def _fair_order(sessions: sessionmaker[Session]) -> list[int]:
    """The order of one experiment per slot, with slots for everyone (no grouping)."""
    with sessions() as session:
        groups = scheduler.plan_groups(
            session=session, slots=1000, default_max_running=None, resend_after_s=600
        )
        return [i for group in groups for i in group]


def test_a_group_is_the_longest_same_shape_prefix_of_the_fair_order(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    a = [make_experiment(owner="a", shape_key="s", memory_gb=1.0) for _ in range(3)]
    b = [make_experiment(owner="b", shape_key="s", memory_gb=1.0) for _ in range(2)]
    c = make_experiment(owner="c", shape_key="t", memory_gb=1.0)
    order = _fair_order(session_factory)
    assert order[:2] == [a[0], b[0]]  # users take turns
    messages = _round(session_factory, slots=2)
    # the prefix stops at the first experiment of another shape (c's turn comes third)
    cut = order.index(c)
    assert messages[0] == order[:cut]
    assert messages[1][0] == c
    started = [i for m in messages for i in m]
    assert started == order[: len(started)]  # the started ones are a prefix of the fair order
    with session_factory() as session:
        heads = {session.get(Experiment, i).group_head for i in messages[0]}
    assert heads == {messages[0][0]}


def test_the_caps_end_a_group_and_a_group_holds_one_slot(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    ids = [make_experiment(owner="a", shape_key="s", memory_gb=3.0) for _ in range(7)]
    assert _round(session_factory, slots=1, groups=GroupLimits(3, 100.0)) == [ids[:3]]
    assert _round(session_factory, slots=1, groups=GroupLimits(3, 100.0)) == []  # slot held
    with session_factory() as session:
        plan = scheduler.plan_groups(
            session=session,
            slots=3,
            default_max_running=None,
            resend_after_s=600,
            groups=GroupLimits(10, 7.0),
        )
    assert plan == [ids[3:5], ids[5:7]]  # 3 + 3 GB fit under 7, a third would not


def test_a_higher_priority_experiment_of_another_shape_starts_first_and_alone(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    low = [make_experiment(owner="a", shape_key="s", memory_gb=1.0) for _ in range(3)]
    high = make_experiment(owner="b", shape_key="t", memory_gb=1.0, priority=10)
    assert _round(session_factory, slots=1) == [[high]]
    with session_factory() as session:
        queue.claim(high, session=session, worker="w", lease_seconds=60)
        session.commit()
    assert _round(session_factory, slots=2) == [low]


def test_experiments_without_a_shape_key_run_alone(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    ids = [make_experiment(owner="a") for _ in range(3)]
    assert _round(session_factory, slots=2) == [[ids[0]], [ids[1]]]


def test_a_running_limit_ends_the_prefix_at_the_owner_who_reached_it(
    session_factory: sessionmaker[Session], make_experiment: MakeExperiment
) -> None:
    ids = [make_experiment(owner="a", shape_key="s", memory_gb=1.0) for _ in range(4)]
    messages: list[list[int]] = []
    scheduler.dispatch_round(
        session_factory,
        messages.append,
        slots=1,
        default_max_running=2,
        resend_after_s=600,
        groups=WIDE,
    )
    assert messages == [ids[:2]]  # each member counts against the owner's running limit
