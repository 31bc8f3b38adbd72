"""Migration usage01 charges every stored experiment by db.usage's rule and fills each owner's
counters (trace points, queued) from the rows, on both backends; the downgrade removes both and
keeps every chunk."""

from __future__ import annotations

import sqlalchemy as sa

from db import usage
from db.config import DbSettings
from db.session import make_engine, make_sessionmaker
from tests.db.test_migrations import alembic_downgrade, alembic_upgrade, experiment_row

BEFORE = "tracepoints01"
# id, owner, status, estimate, points stored
ROWS = [
    (1, "alice", "completed", 500, 10),  # ended: what it stored
    (2, "alice", "queued", 300, 4),  # queued again: its estimate covers the earlier points
    (3, "bob", "running", None, 7),  # from before the estimate: what it stored
    (4, "bob", "cancelled", 80, 0),
]


def _chunk(experiment_id: int, points: int) -> str:
    return (
        "INSERT INTO trace_chunk (experiment_id, seed, phase, chunk, attempt, first_step, "
        f"last_step, points, data) VALUES ({experiment_id}, 0, 'phase1', 0, 1, 0, 9, {points}, "
        ":data)"
    )


def test_upgrade_fills_the_counters_from_the_rows_and_downgrade_keeps_the_chunks(
    empty_db_url: str,
) -> None:
    alembic_upgrade(empty_db_url, BEFORE)
    engine = make_engine(DbSettings(database_url=empty_db_url))
    try:
        with engine.begin() as connection:
            for experiment_id, owner, status, estimate, points in ROWS:
                connection.execute(
                    sa.text(experiment_row(id=experiment_id, owner=owner, status=status))
                )
                connection.execute(
                    sa.text("UPDATE experiment SET trace_points = :e WHERE id = :i"),
                    {"e": estimate, "i": experiment_id},
                )
                if points:
                    connection.execute(sa.text(_chunk(experiment_id, points)), {"data": b"\x00"})
        alembic_upgrade(empty_db_url)
        with make_sessionmaker(engine)() as session:
            assert usage.counters(session=session) == {"alice": (310, 1), "bob": (7, 0)}
            assert usage.recount(session=session) == {"alice": (310, 1), "bob": (7, 0)}
            charged = session.execute(sa.text("SELECT id, charged_points FROM experiment"))
            assert dict(charged.all()) == {1: 10, 2: 300, 3: 7, 4: 0}
        alembic_downgrade(empty_db_url, BEFORE)
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            assert "owner_usage" not in inspector.get_table_names()
            assert "charged_points" not in {c["name"] for c in inspector.get_columns("experiment")}
            chunks = connection.execute(sa.text("SELECT count(*) FROM trace_chunk")).scalar_one()
            assert chunks == 3
    finally:
        engine.dispose()
