"""api.services.experiments: each change is committed with its audit record before the
dispatcher runs, refuses with a domain error, and a failing audit write undoes the change."""

from __future__ import annotations

import pytest
from service_helpers import (
    Dispatch,
    audit_actions,
    audit_log_down,
    context,
    count,
    principal_of,
    settings,
)
from sqlalchemy.exc import DBAPIError

from api import accounts
from api.listing import Filters
from api.schemas import ExperimentCreate
from api.services import experiments, submissions
from api.services.errors import BadRequest, Conflict, Invalid, LimitExceeded
from db.models import AuditEvent, Experiment


@pytest.fixture
def alice(session_factory, keys):
    return principal_of(session_factory, keys["alice"])


@pytest.fixture
def root(session_factory, keys):
    return principal_of(session_factory, keys["root"])


def body(spec, **fields) -> ExperimentCreate:
    return ExperimentCreate.model_validate({"spec": spec, **fields})


def test_submit_commits_the_experiment_and_its_audit_record_before_dispatching(
    session_factory, alice, spec, tmp_path
):
    dispatch = Dispatch(session_factory)
    with session_factory() as session:
        done = submissions.submit(
            body(spec, name="first"), ctx=context(session, alice, settings(tmp_path), dispatch)
        )
        ident = done.experiment.id
        assert not done.replayed
        assert (done.experiment.owner, done.experiment.status) == ("alice", "queued")
    assert dispatch.seen == [[ident]]  # the round saw the committed row
    assert audit_actions(session_factory) == ["submit"]


def test_the_same_idempotency_key_replays_and_a_different_body_conflicts(
    session_factory, alice, spec, tmp_path
):
    dispatch = Dispatch(session_factory)
    with session_factory() as session:
        first = submissions.submit(
            body(spec),
            ctx=context(session, alice, settings(tmp_path), dispatch),
            idempotency_key="k1",
        )
        again = submissions.submit(
            body(spec),
            ctx=context(session, alice, settings(tmp_path), dispatch),
            idempotency_key="k1",
        )
        assert again.replayed and again.experiment.id == first.experiment.id
        with pytest.raises(Conflict, match="k1"):
            submissions.submit(
                body(spec, name="other"),
                ctx=context(session, alice, settings(tmp_path), dispatch),
                idempotency_key="k1",
            )
    assert count(session_factory, Experiment) == 1
    assert len(dispatch.seen) == 1  # a replay changes nothing, so it dispatches nothing


def test_submit_over_the_queued_limit_or_the_memory_limit_stores_nothing(
    session_factory, alice, spec, tmp_path
):
    one = settings(tmp_path, default_max_queued=1)
    dispatch = Dispatch(session_factory)
    with session_factory() as session:
        submissions.submit(body(spec), ctx=context(session, alice, one, dispatch))
        with pytest.raises(LimitExceeded, match="has 1; this would be 1 over"):
            submissions.submit(body(spec), ctx=context(session, alice, one, dispatch))
        with pytest.raises(Invalid) as refused:
            submissions.submit(
                body(spec),
                ctx=context(session, alice, settings(tmp_path, max_memory_gb=1e-9), dispatch),
            )
    assert refused.value.loc == ("body", "spec", "max_memory_gb")
    assert count(session_factory, Experiment) == 1
    assert len(dispatch.seen) == 1


def test_cancel_twice_is_a_conflict_the_second_time(
    session_factory, alice, make_experiment, tmp_path
):
    ident = make_experiment(owner="alice")
    with session_factory() as session:
        ctx = context(session, alice, settings(tmp_path))
        cancelled = experiments.cancel(session.get(Experiment, ident), ctx=ctx)
        assert cancelled.status == "cancelled"
        with pytest.raises(Conflict, match="already cancelled"):
            experiments.cancel(session.get(Experiment, ident), ctx=ctx)
    assert audit_actions(session_factory) == ["cancel"]


def test_cancel_of_a_running_experiment_asks_it_to_stop(
    session_factory, alice, make_experiment, tmp_path
):
    ident = make_experiment(owner="alice", status="running", attempt=1)
    with session_factory() as session:
        running = experiments.cancel(
            session.get(Experiment, ident), ctx=context(session, alice, settings(tmp_path))
        )
        assert (running.status, running.cancel_requested) == ("running", True)


def test_retry_counts_against_the_owners_limit_not_the_callers(
    session_factory, root, make_experiment, tmp_path
):
    ident = make_experiment(owner="alice", status="failed")
    make_experiment(owner="alice")  # alice already has one queued
    with session_factory() as session:
        accounts.find_account("alice", session=session).max_queued = 1
        session.commit()
        with pytest.raises(LimitExceeded, match="alice may have at most 1"):
            experiments.retry(
                session.get(Experiment, ident),
                ctx=context(session, root, settings(tmp_path), Dispatch(session_factory)),
            )
        accounts.find_account("alice", session=session).max_queued = None
        session.commit()
        dispatch = Dispatch(session_factory)
        queued = experiments.retry(
            session.get(Experiment, ident), ctx=context(session, root, settings(tmp_path), dispatch)
        )
        assert queued.status == "queued" and len(dispatch.seen) == 1
        with pytest.raises(Conflict, match="is queued"):
            experiments.retry(queued, ctx=context(session, root, settings(tmp_path), dispatch))
    assert audit_actions(session_factory) == ["retry"]


def test_delete_refuses_a_running_experiment_and_keeps_the_audit_of_a_deleted_one(
    session_factory, alice, make_experiment, tmp_path
):
    running = make_experiment(owner="alice", status="running", attempt=1)
    done = make_experiment(owner="alice", status="completed")
    with session_factory() as session:
        ctx = context(session, alice, settings(tmp_path))
        with pytest.raises(Conflict, match="cancel it first"):
            experiments.delete(session.get(Experiment, running), ctx=ctx)
        experiments.delete(session.get(Experiment, done), ctx=ctx)
    assert count(session_factory, Experiment) == 1
    assert count(session_factory, AuditEvent, AuditEvent.experiment_id == done) == 1


def test_list_refuses_an_unknown_sort_or_a_forged_cursor(session_factory, alice, tmp_path):
    with session_factory() as session:
        for bad in ({"sort": "colour"}, {"cursor": "not-a-cursor"}):
            with pytest.raises(BadRequest):
                experiments.list_experiments(
                    Filters(),
                    ctx=context(session, alice, settings(tmp_path)),
                    **bad,
                )


def test_list_with_own_only_visibility_shows_a_member_their_own(
    session_factory, alice, make_experiment, tmp_path
):
    mine = make_experiment(owner="alice")
    make_experiment(owner="bob")
    own = settings(tmp_path, experiments_visible="own")
    with session_factory() as session:
        page = experiments.list_experiments(Filters(), ctx=context(session, alice, own))
        assert [e.id for e in page.items] == [mine]
        bobs = experiments.list_experiments(Filters(owner="bob"), ctx=context(session, alice, own))
        assert bobs.items == [] and bobs.next_cursor is None


# ------------------------------------------------------------- the audit record is the change's
def test_a_failing_audit_write_rolls_back_a_submission(
    engine, session_factory, alice, spec, tmp_path
):
    dispatch = Dispatch(session_factory)
    with audit_log_down(engine), session_factory() as session, pytest.raises(DBAPIError):
        submissions.submit(
            body(spec),
            ctx=context(session, alice, settings(tmp_path), dispatch),
            idempotency_key="k",
        )
    assert count(session_factory, Experiment) == 0
    assert dispatch.seen == []


@pytest.mark.parametrize("action", ["cancel", "retry", "delete"])
def test_a_failing_audit_write_rolls_back_a_change(
    engine, session_factory, alice, make_experiment, tmp_path, action
):
    ident = make_experiment(owner="alice", status="queued" if action != "retry" else "failed")
    dispatch = Dispatch(session_factory)
    with audit_log_down(engine), session_factory() as session, pytest.raises(DBAPIError):
        getattr(experiments, action)(
            session.get(Experiment, ident),
            ctx=context(session, alice, settings(tmp_path), dispatch),
        )
    with session_factory() as session:
        unchanged = session.get(Experiment, ident)
        assert unchanged is not None
        assert unchanged.status == ("queued" if action != "retry" else "failed")
