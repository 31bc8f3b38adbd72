"""db.bulk.insert_rows stores what an INSERT of the same rows stores, on both databases
(PostgreSQL: through COPY): text that COPY's format must escape, NULLs, JSON, enums checked,
aware datetimes, the Python-side defaults of the columns left out, and a server-side id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import StatementError

from db import bulk
from db.models import AuditEvent, Experiment, Status

AWKWARD = ["tab\there", "new\nline", "back\\slash", "\\N", "", "quote \" and ' ", "ünï ☃"]


def experiment(name: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "owner": "alice",
        "status": Status.queued,
        "spec": {"d": 8, "nested": {"list": [1, 2.5, None], "text": name}},
        "spec_hash": "h" * 64,
        "target": "h3",
        "algorithm": "reuse",
        "d": 8,
        "width": 4,
        "seeds": 2,
        "memory_gb": None,
        **overrides,
    }


def table(model: Any) -> Table:
    return cast(Table, model.__table__)


def stored(session, model: Any, ids: list[int]) -> list[dict[str, Any]]:
    columns = [c for c in table(model).columns if c.name not in ("created_at", "updated_at")]
    query = select(*columns).where(table(model).c.id.in_(ids)).order_by(table(model).c.id)
    return [dict(row._mapping) for row in session.execute(query)]


def test_rows_read_back_as_an_insert_of_the_same_rows_would_store_them(session):
    shared_spec = {"d": 16, "shared": True}
    rows = [experiment(name) for name in AWKWARD]
    rows += [experiment(f"shared {i}", spec=shared_spec) for i in range(3)]
    copied = [{**row, "id": 1000 + i} for i, row in enumerate(rows)]
    inserted = [{**row, "id": 2000 + i} for i, row in enumerate(rows)]
    bulk.insert_rows(table(Experiment), copied, session=session)
    session.execute(insert(table(Experiment)), inserted)
    session.commit()
    ours = stored(session, Experiment, [r["id"] for r in copied])
    theirs = stored(session, Experiment, [r["id"] for r in inserted])
    assert [{**row, "id": 0} for row in ours] == [{**row, "id": 0} for row in theirs]
    assert [row["name"] for row in ours] == [row["name"] for row in rows]
    assert ours[-1]["spec"] == shared_spec and ours[0]["status"] == Status.queued
    # the defaults of the columns left out: the same for every row, as an INSERT's would be
    assert {(r["attempt"], r["max_attempts"], r["cancel_requested"]) for r in ours} == {
        (0, 3, False)
    }
    times = session.execute(select(Experiment.created_at).where(Experiment.id >= 1000)).scalars()
    assert all(
        t.tzinfo is not None and abs(t - datetime.now(UTC)) < timedelta(hours=1) for t in times
    )


def test_server_side_ids_aware_datetimes_and_json_defaults(session):
    east = timezone(timedelta(hours=5))
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=east)
    rows = [
        {"actor": "alice", "action": "submit", "experiment_id": i, "created_at": when}
        for i in range(4)
    ]
    bulk.insert_rows(table(AuditEvent), rows, session=session)
    session.commit()
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert len({e.id for e in events}) == 4 and [e.experiment_id for e in events] == [0, 1, 2, 3]
    assert {e.created_at for e in events} == {when} and {str(e.detail) for e in events} == {"{}"}


def test_a_value_outside_an_enum_is_refused_before_anything_is_stored(session):
    with pytest.raises((LookupError, StatementError), match="not among the defined enum values"):
        bulk.insert_rows(
            table(Experiment), [experiment("x", id=1, status="sleeping")], session=session
        )
    session.rollback()
    assert session.scalar(select(Experiment.id)) is None


def test_no_rows_is_nothing(session):
    bulk.insert_rows(table(Experiment), [], session=session)
    assert session.scalar(select(Experiment.id)) is None
