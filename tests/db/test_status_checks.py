"""experiment.status, experiment.algorithm and account.role hold their enums (db.types.str_enum),
on both backends: rows read back as members, and a value that is not one is refused before it
reaches the database, by the ORM and by a Core UPDATE alike. db.models.Algorithm mirrors
trainer.spec.Algorithm (db may not import trainer), member for member."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from db.models import Account, Algorithm, Experiment, Role, Status
from trainer import spec


def test_rows_read_back_as_members(make_experiment: Callable[..., int], session: Session) -> None:
    experiment_id = make_experiment()
    session.add(Account(name="bob"))
    session.commit()
    experiment = session.get(Experiment, experiment_id)
    account = session.query(Account).filter_by(name="bob").one()
    assert experiment is not None
    assert type(experiment.status) is Status and experiment.status is Status.queued
    assert type(account.role) is Role and account.role is Role.member
    assert type(experiment.algorithm) is Algorithm and experiment.algorithm is Algorithm.reuse


def test_the_algorithms_are_the_trainers() -> None:
    assert [(a.name, a.value) for a in Algorithm] == [(a.name, a.value) for a in spec.Algorithm]


def test_every_member_round_trips(make_experiment: Callable[..., int], session: Session) -> None:
    experiment_id = make_experiment()
    for status in Status:
        session.execute(update(Experiment).values(status=status))
        session.commit()
        stored = session.get(Experiment, experiment_id, populate_existing=True)
        assert stored is not None and stored.status is status


@pytest.mark.parametrize("value", ["done", "Queued", ""])
def test_an_update_to_another_value_is_refused(
    make_experiment: Callable[..., int], session: Session, value: str
) -> None:
    make_experiment()
    with pytest.raises(StatementError, match="is not among the defined enum values"):
        session.execute(update(Experiment).values(status=value))
    session.rollback()
    assert session.query(Experiment.status).scalar() is Status.queued


def test_a_new_row_with_another_value_is_refused(make_experiment: Callable[..., int]) -> None:
    with pytest.raises(StatementError, match="is not among the defined enum values"):
        make_experiment(status="done")


def test_an_algorithm_the_trainer_does_not_know_is_refused(
    make_experiment: Callable[..., int],
) -> None:
    with pytest.raises(StatementError, match="is not among the defined enum values"):
        make_experiment(algorithm="sgd")
