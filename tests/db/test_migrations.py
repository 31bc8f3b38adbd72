"""The migrations build exactly the schema the models describe, on both backends, and undo it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import db.models  # noqa: F401
from db.base import Base
from db.config import DbSettings
from db.session import make_engine

ROOT = Path(__file__).resolve().parents[2]

TABLES = {"experiment", "experiment_tag", "trace_chunk", "checkpoint", "sweep"}


def experiment_row(
    *, status: str = "completed", attempt: int = 1, id: int = 1, owner: str = "alice"
) -> str:
    """An INSERT of an experiment (default: 1, alice's) in the columns every revision from
    recovery01 on has, for the migration tests that write rows in raw SQL at an older schema."""
    return (
        "INSERT INTO experiment (id, name, owner, priority, status, spec, spec_hash, target, "
        "algorithm, d, width, seeds, attempt, max_attempts, cancel_requested, samples_done, "
        f"samples_total, created_at, updated_at) VALUES ({id}, '', '{owner}', 0, '{status}', "
        f"'{{}}', 'h', 'h3', 'reuse', 16, 8, 2, {attempt}, 3, false, 0, 0, CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP)"
    )


def alembic_config() -> Config:
    return Config(str(ROOT / "alembic.ini"))


def _alembic(url: str, *, upgrade: bool, revision: str) -> None:
    """Run a migration in-process, handing env.py our connection (as tests/conftest.py does)."""
    engine = make_engine(DbSettings(database_url=url))
    try:
        with engine.begin() as connection:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            (command.upgrade if upgrade else command.downgrade)(cfg, revision)
    finally:
        engine.dispose()


def alembic_upgrade(url: str, revision: str = "head") -> None:
    _alembic(url, upgrade=True, revision=revision)


def alembic_downgrade(url: str, revision: str = "base") -> None:
    _alembic(url, upgrade=False, revision=revision)


def _for_dialect(name: str):
    """migrations/env.py's include_object: an index the models create on one dialect only."""

    def include(obj, _name, _type, _reflected, _compare_to) -> bool:
        wanted = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        return wanted is None or wanted == name

    return include


def _diff(url: str) -> list:
    engine = make_engine(DbSettings(database_url=url))
    try:
        with engine.connect() as connection:
            include = _for_dialect(connection.dialect.name)
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": include}
            )
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(DbSettings(database_url=url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_matches_the_models(empty_db_url: str) -> None:
    alembic_upgrade(empty_db_url)
    assert _tables(empty_db_url) >= TABLES
    assert _diff(empty_db_url) == []


def test_downgrade_base_removes_everything_and_upgrade_again(empty_db_url: str) -> None:
    alembic_upgrade(empty_db_url)
    alembic_downgrade(empty_db_url, "base")
    assert _tables(empty_db_url) <= {"alembic_version"}
    alembic_upgrade(empty_db_url)
    assert _diff(empty_db_url) == []


def test_one_head_and_files_named_by_date() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    for revision in script.walk_revisions():
        name = os.path.basename(revision.path)
        assert name[:4].isdigit() and name[4] == "-" and name[10] == "_", name


def test_cli_reads_the_url_from_the_environment(empty_db_url: str) -> None:
    """`alembic upgrade head` as an operator runs it: the URL comes from SILAB_DATABASE_URL."""
    env = {**os.environ, "SILAB_DATABASE_URL": empty_db_url}
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert _tables(empty_db_url) >= TABLES
