"""api.services.sweeps: a sweep, its experiments and its audit record are stored in one
transaction (a failing audit write stores none of them), resubmitting creates nothing, and the
whole grid counts against the owner's queued limit."""

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

from api.schemas import SweepCreate
from api.services import sweeps
from api.services.errors import Invalid, LimitExceeded
from db.models import Experiment, Sweep


@pytest.fixture
def alice(session_factory, keys):
    return principal_of(session_factory, keys["alice"])


def grid(spec, **extra) -> SweepCreate:
    axes = [{"path": "d", "values": [8, 16]}, {"path": "phase1.stages.0.lr", "values": [0.1, 0.2]}]
    return SweepCreate.model_validate({"name": "grid", "base": spec, "axes": axes, **extra})


def test_submit_stores_the_grid_with_its_audit_record_then_dispatches(
    session_factory, alice, spec, tmp_path
):
    dispatch = Dispatch(session_factory)
    with session_factory() as session:
        done = sweeps.submit(grid(spec), ctx=context(session, alice, settings(tmp_path), dispatch))
        assert done.created and done.state.progress["queued"] == 4
        assert done.state.status == "queued" and done.state.sweep.owner == "alice"
    assert len(dispatch.seen) == 1 and len(dispatch.seen[0]) == 4  # all committed before
    assert audit_actions(session_factory) == ["submit_sweep"]


def test_resubmitting_the_same_definition_creates_nothing(session_factory, alice, spec, tmp_path):
    dispatch = Dispatch(session_factory)
    with session_factory() as session:
        first = sweeps.submit(grid(spec), ctx=context(session, alice, settings(tmp_path), dispatch))
        again = sweeps.submit(grid(spec), ctx=context(session, alice, settings(tmp_path), dispatch))
        assert not again.created and again.state.sweep.id == first.state.sweep.id
    assert count(session_factory, Experiment) == 4 and len(dispatch.seen) == 1
    assert audit_actions(session_factory) == ["submit_sweep"]


def test_the_whole_grid_counts_against_the_queued_limit(session_factory, alice, spec, tmp_path):
    with session_factory() as session, pytest.raises(LimitExceeded, match="1 over"):
        sweeps.submit(
            grid(spec),
            ctx=context(
                session, alice, settings(tmp_path, default_max_queued=3), Dispatch(session_factory)
            ),
        )
    assert count(session_factory, Sweep) == 0


def test_a_cell_that_does_not_validate_is_invalid_naming_it(session_factory, alice, spec, tmp_path):
    bad = grid(spec)
    bad.axes[1].values = [0.1, -1.0]
    with session_factory() as session, pytest.raises(Invalid) as refused:
        sweeps.submit(
            bad, ctx=context(session, alice, settings(tmp_path), Dispatch(session_factory))
        )
    assert refused.value.loc[0] == "body"
    assert count(session_factory, Experiment) == 0


def test_a_failing_audit_write_stores_neither_the_sweep_nor_its_experiments(
    engine, session_factory, alice, spec, tmp_path
):
    dispatch = Dispatch(session_factory)
    with audit_log_down(engine), session_factory() as session, pytest.raises(DBAPIError):
        sweeps.submit(grid(spec), ctx=context(session, alice, settings(tmp_path), dispatch))
    assert count(session_factory, Sweep) == 0 and count(session_factory, Experiment) == 0
    assert dispatch.seen == []


def test_cancel_cancels_the_queued_experiments_with_one_audit_record(
    engine, session_factory, alice, spec, tmp_path
):
    with session_factory() as session:
        done = sweeps.submit(
            grid(spec), ctx=context(session, alice, settings(tmp_path), Dispatch(session_factory))
        )
        ident = done.state.sweep.id
        ctx = context(session, alice, settings(tmp_path))
        with audit_log_down(engine), pytest.raises(DBAPIError):
            sweeps.cancel(session.get(Sweep, ident), ctx=ctx)
        session.rollback()
        assert count(session_factory, Experiment, Experiment.status == "queued") == 4
        cancelled = sweeps.cancel(session.get(Sweep, ident), ctx=ctx)
        assert cancelled.status == "cancelled" and cancelled.progress["cancelled"] == 4
    assert audit_actions(session_factory) == ["submit_sweep", "cancel_sweep"]
