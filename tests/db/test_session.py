"""db.session and db.types: engine settings per backend, and timezone-aware timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from db.config import DbSettings
from db.models import Experiment
from db.session import make_engine, make_sessionmaker


def test_sqlite_default_creates_the_data_folder_and_sets_pragmas(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    engine = make_engine(DbSettings(data_dir=data_dir))
    try:
        with engine.connect() as connection:
            pragma = {
                name: connection.execute(text(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
        assert pragma == {"journal_mode": "wal", "busy_timeout": 30_000, "foreign_keys": 1}
        assert (data_dir / "silab.db").exists()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_engine_pings_before_use(postgres_url: str) -> None:
    engine = make_engine(DbSettings(database_url=postgres_url))
    try:
        assert engine.pool._pre_ping  # type: ignore[attr-defined]
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_sessions_keep_objects_readable_after_commit(session: Session, make_experiment) -> None:
    experiment = session.get(Experiment, make_experiment())
    session.commit()
    assert experiment is not None
    assert "status" in experiment.__dict__  # not expired by the commit


def test_timestamps_come_back_aware_utc_whatever_offset_went_in(
    session: Session, make_experiment
) -> None:
    plus5 = timezone(timedelta(hours=5))
    written = datetime(2026, 11, 28, 17, 30, tzinfo=plus5)
    experiment_id = make_experiment(dispatched_at=written)
    experiment = session.get(Experiment, experiment_id, populate_existing=True)
    assert experiment is not None
    assert experiment.dispatched_at == written
    assert experiment.dispatched_at.tzinfo is not None
    assert experiment.dispatched_at.utcoffset() == timedelta(0)
    assert experiment.created_at.tzinfo is not None
    # ...and compare as instants in SQL.
    found = session.scalars(
        select(Experiment.id).where(
            Experiment.dispatched_at > datetime(2026, 11, 28, 12, 29, tzinfo=UTC),
            Experiment.dispatched_at < datetime(2026, 11, 28, 12, 31, tzinfo=UTC),
        )
    ).all()
    assert found == [experiment_id]


def test_naive_timestamps_are_refused(session: Session, make_experiment) -> None:
    experiment = session.get(Experiment, make_experiment())
    assert experiment is not None
    experiment.dispatched_at = datetime(2026, 1, 1)  # noqa: DTZ001 (the refused input under test)
    with pytest.raises(StatementError, match="naive"):
        session.commit()
    session.rollback()


def test_sessionmaker_is_bound_to_the_engine(engine) -> None:
    with make_sessionmaker(engine)() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
