"""Migration statuscheck01 adds the CHECK on experiment.status and takes it away again, on both
backends, without losing a row of the tables that reference experiment; on SQLite it refuses to
rebuild the table while foreign keys are on, rather than let the DROP cascade."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

from db.config import DbSettings
from db.models import Experiment, Status
from db.session import make_engine
from tests.db.test_migrations import (
    ROOT,
    alembic_config,
    alembic_downgrade,
    alembic_upgrade,
    experiment_row,
)

BEFORE = "listsort01"
CHILDREN = ("experiment_tag", "trace_chunk", "checkpoint", "idempotency_key")
ROWS = (
    experiment_row(status="running"),
    "INSERT INTO experiment_tag (experiment_id, tag) VALUES (1, 'kept')",
    "INSERT INTO trace_chunk (experiment_id, seed, phase, chunk, attempt, first_step, "
    "last_step, points, data) VALUES (1, 3, 'phase1', 0, 1, 0, 10, 2, :blob)",
    "INSERT INTO checkpoint (experiment_id, attempt, samples, state, created_at) "
    "VALUES (1, 1, 40, :blob, CURRENT_TIMESTAMP)",
    "INSERT INTO idempotency_key (owner, key, request_hash, experiment_id, created_at) "
    "VALUES ('alice', 'k', 'h', 1, CURRENT_TIMESTAMP)",
)


def _migration():
    path = ROOT / "migrations" / "versions" / "2026-12-01_status_check.py"
    spec = importlib.util.spec_from_file_location("status_check_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _insert_rows(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        for statement in ROWS:
            connection.execute(sa.text(statement), {"blob": b"\x00\x01"})


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("experiment", *CHILDREN)
        }


def _checks(engine: sa.Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_check_constraints("experiment")}


def _set_status(engine: sa.Engine, value: str) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE experiment SET status = :s"), {"s": value})


def test_the_frozen_statuses_are_the_enums_and_the_models_name() -> None:
    migration = _migration()
    assert tuple(Status) == migration.STATUSES
    names = {c.name for c in Experiment.__table__.constraints}
    assert migration.NAME in names


def test_upgrade_adds_the_check_and_downgrade_removes_it_keeping_every_row(
    empty_db_url: str,
) -> None:
    alembic_upgrade(empty_db_url, BEFORE)
    engine = make_engine(DbSettings(database_url=empty_db_url))
    try:
        _insert_rows(engine)
        before = _counts(engine)
        assert before == dict.fromkeys(before, 1)

        alembic_upgrade(empty_db_url)
        assert _counts(engine) == before
        assert _checks(engine) == {"ck_experiment_status"}
        with pytest.raises(IntegrityError):
            _set_status(engine, "done")
        _set_status(engine, "completed")

        alembic_downgrade(empty_db_url, BEFORE)
        assert _counts(engine) == before
        assert _checks(engine) == set()
        _set_status(engine, "done")  # nothing holds the column any more
    finally:
        engine.dispose()


def test_sqlite_refuses_to_rebuild_while_foreign_keys_are_on(tmp_path: Path) -> None:
    """A transaction that has already written cannot turn foreign keys off: the migration
    stops instead of letting the DROP of the old table delete the trace and checkpoint."""
    url = f"sqlite:///{tmp_path / 'on.db'}"
    alembic_upgrade(url, BEFORE)
    engine = make_engine(DbSettings(database_url=url))
    try:
        _insert_rows(engine)
        with (
            pytest.raises(RuntimeError, match="foreign keys are on"),
            engine.begin() as connection,
        ):
            connection.execute(sa.text("UPDATE experiment SET priority = 1"))
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        assert _counts(engine) == dict.fromkeys(("experiment", *CHILDREN), 1)
        assert _checks(engine) == set()
    finally:
        engine.dispose()
