"""Migration tracepoints01 adds experiment.trace_points, NULL for the rows before it, and removes
it again, on both backends, without touching what references those rows (a table copy on SQLite
would cascade to their trace chunks)."""

from __future__ import annotations

import sqlalchemy as sa

from db.config import DbSettings
from db.session import make_engine
from tests.db.test_migrations import alembic_downgrade, alembic_upgrade, experiment_row

BEFORE = "statuscheck01"


def _chunks(connection: sa.Connection) -> int:
    return connection.execute(sa.text("SELECT count(*) FROM trace_chunk")).scalar_one()


def test_upgrade_adds_a_null_estimate_and_downgrade_keeps_every_chunk(empty_db_url: str) -> None:
    alembic_upgrade(empty_db_url, BEFORE)
    engine = make_engine(DbSettings(database_url=empty_db_url))
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(experiment_row()))
            connection.execute(
                sa.text(
                    "INSERT INTO trace_chunk (experiment_id, seed, phase, chunk, attempt, "
                    "first_step, last_step, points, data) VALUES (1, 0, 'phase1', 0, 1, 0, 9, "
                    "10, :data)"
                ),
                {"data": b"\x00"},
            )
        alembic_upgrade(empty_db_url)
        with engine.connect() as connection:
            estimate = connection.execute(sa.text("SELECT trace_points FROM experiment"))
            assert estimate.scalar_one() is None  # the quota counts its stored points instead
            assert _chunks(connection) == 1
        alembic_downgrade(empty_db_url, BEFORE)
        with engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("experiment")}
            assert "trace_points" not in columns
            assert _chunks(connection) == 1
    finally:
        engine.dispose()
