"""Migration tracechunk01 moves every trace_point row into chunks and back, on both backends."""

from __future__ import annotations

import importlib.util
import math

import sqlalchemy as sa

from db import traces
from db.config import DbSettings
from db.session import make_engine, make_sessionmaker
from tests.db.test_migrations import ROOT, alembic_downgrade, alembic_upgrade, experiment_row

METRICS = ("mean_abs_m", "median_abs_m", "max_abs_m", "frac_m_05", "frac_m_09")
METRICS += ("train_loss", "test_mse")
# More points than one chunk holds, so the ordinals cross a chunk boundary.
POINTS = traces.CHUNK_POINTS + 37


def _migration():
    path = ROOT / "migrations" / "versions" / "2026-12-01_trace_chunks.py"
    spec = importlib.util.spec_from_file_location("trace_chunks_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _old_points() -> list[dict]:
    rows = []
    for seed in (3, 7):
        for i in range(POINTS):
            row = {"experiment_id": 1, "attempt": 1 + (i > 100), "seed": seed}
            row |= {"phase": "phase1", "step": 5 * i, "samples": 40 * i}
            for k, name in enumerate(METRICS):
                row[name] = None if (i + k) % 11 == 0 else math.sin(i * (k + 1) + seed)
            rows.append(row)
    rows.append({"experiment_id": 1, "attempt": 2, "seed": 3, "phase": "phase2"})
    rows[-1] |= {"step": 5 * POINTS, "samples": 10**6, **dict.fromkeys(METRICS)}
    rows[-1]["test_mse"] = 0.25
    return rows


def _key(row: dict) -> tuple:
    return (row["seed"], row["phase"], row["step"])


def test_chunk_size_frozen_in_the_migration_is_the_stores() -> None:
    assert _migration().CHUNK_POINTS == traces.CHUNK_POINTS


def test_upgrade_moves_every_point_and_downgrade_brings_them_back(empty_db_url: str) -> None:
    alembic_upgrade(empty_db_url, "recovery01")
    engine = make_engine(DbSettings(database_url=empty_db_url))
    old = _old_points()
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(experiment_row(attempt=2)))
            table = sa.table("trace_point", *(sa.column(name) for name in old[0]))
            table.append_column(sa.column("created_at"))
            connection.execute(
                sa.insert(table), [row | {"created_at": "2026-11-30 00:00:00+00:00"} for row in old]
            )
        alembic_upgrade(empty_db_url)
        with make_sessionmaker(engine)() as session:
            moved = traces.points(session=session, experiment_id=1)
            chunks = session.execute(
                sa.text("SELECT seed, phase, chunk, points FROM trace_chunk")
            ).all()
        full = traces.CHUNK_POINTS
        assert sorted(tuple(c) for c in chunks) == [
            (3, "phase1", 0, full),
            (3, "phase1", 1, 37),
            (3, "phase2", 0, 1),
            (7, "phase1", 0, full),
            (7, "phase1", 1, 37),
        ]
        assert len(moved) == len(old)
        by_key = {_key(row): row for row in moved}
        for row in old:
            got = by_key[_key(row)]
            assert got["samples"] == row["samples"]
            assert all(got[name] == row[name] for name in METRICS), (row, got)

        alembic_downgrade(empty_db_url, "recovery01")
        with engine.connect() as connection:
            back = connection.execute(
                sa.text(
                    "SELECT seed, phase, step, samples, "
                    + ", ".join(METRICS)
                    + " FROM trace_point ORDER BY seed, phase, step"
                )
            ).all()
        expected = sorted(old, key=_key)
        assert [tuple(r) for r in back] == [
            (r["seed"], r["phase"], r["step"], r["samples"], *(r[m] for m in METRICS))
            for r in expected
        ]
    finally:
        engine.dispose()
