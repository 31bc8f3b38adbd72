"""silab-admin refuses a key lifetime of 0 or fewer days with a clear message (0 made a key that
never expired, -1 one that was already expired), and recount-usage puts the per-user counters
back after rows were deleted in SQL."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from api import admin
from db import usage
from db.models import AuditEvent, Experiment


@pytest.mark.parametrize("days", ["0", "-1", "-0.5", "nan", "inf", "soon"])
def test_create_key_refuses_a_lifetime_that_is_not_positive(days, capsys):
    with pytest.raises(SystemExit) as exit_info:
        admin.parser().parse_args(["create-key", "alice", "--expires-in-days", days])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--expires-in-days" in message


def test_create_key_takes_a_positive_lifetime_or_none():
    args = admin.parser().parse_args(["create-key", "alice", "--expires-in-days", "0.5"])
    assert args.expires_in_days == 0.5
    assert admin.parser().parse_args(["create-key", "alice"]).expires_in_days is None


def test_recount_usage_resets_the_counters_after_a_delete_in_sql(
    db_url, make_experiment, session, monkeypatch, capsys
):
    make_experiment(owner="alice", trace_points=12)
    gone = make_experiment(owner="alice", trace_points=30)
    session.execute(delete(Experiment).where(Experiment.id == gone))
    session.commit()
    monkeypatch.setenv("SILAB_DATABASE_URL", db_url)
    assert admin.main(["recount-usage"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "alice\t1 queued\t12 trace points\t(was 2 queued, 42 trace points)"
    ]
    assert usage.counters(session=session) == {"alice": (12, 1)}
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "recount-usage")).one()
    assert event.actor == "silab-admin" and event.detail["changed"]["alice"]["now"] == [12, 1]
