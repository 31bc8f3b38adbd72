"""trace_point (one row per point) -> trace_chunk (one row per 2048 points of a series).

A trace point row cost ~190 bytes on PostgreSQL (tuple header, a surrogate id, the unique
index on four columns, the primary key, created_at); a chunk stores the same numbers as
compressed columns (db.tracecodec). The upgrade moves every point: each series (experiment,
seed, phase) ordered by step is cut into chunks of CHUNK_POINTS, so chunk k holds ordinals
[k·CHUNK_POINTS, (k+1)·CHUNK_POINTS) as db.traces writes them. The downgrade decodes them back
(NaN → NULL). The codec is the versioned format itself, so this migration uses it.

Revision ID: tracechunk01
Revises: recovery01
Create Date: 2026-12-01 10:00:00+00:00
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

from db import tracecodec

revision: str = "tracechunk01"
down_revision: str | Sequence[str] | None = "recovery01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: db.traces.CHUNK_POINTS when this migration was written (a test checks they agree).
CHUNK_POINTS = 2048
METRICS = (
    "mean_abs_m",
    "median_abs_m",
    "max_abs_m",
    "frac_m_05",
    "frac_m_09",
    "train_loss",
    "test_mse",
)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trace_chunk",
        sa.Column("experiment_id", ID, nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("first_step", sa.BigInteger(), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiment.id"],
            name=op.f("fk_trace_chunk_experiment_id_experiment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "experiment_id", "seed", "phase", "chunk", name=op.f("pk_trace_chunk")
        ),
    )
    connection = op.get_bind()
    chunk = sa.table("trace_chunk", *(sa.column(n) for n in _CHUNK_COLUMNS))
    batch: list[dict[str, Any]] = []
    for row in _chunks_from_points(connection):
        batch.append(row)
        if len(batch) >= 100:
            connection.execute(sa.insert(chunk), batch)
            batch = []
    if batch:
        connection.execute(sa.insert(chunk), batch)
    op.drop_table("trace_point")


def downgrade() -> None:
    op.create_table(
        "trace_point",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("experiment_id", ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("samples", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in METRICS),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiment.id"],
            name=op.f("fk_trace_point_experiment_id_experiment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_point")),
        sa.UniqueConstraint(
            "experiment_id",
            "seed",
            "phase",
            "step",
            name=op.f("uq_trace_point_experiment_id_seed_phase_step"),
        ),
    )
    connection = op.get_bind()
    point = sa.table("trace_point", *(sa.column(n) for n in _POINT_COLUMNS))
    now = datetime.now(UTC)
    query = sa.text(
        "SELECT experiment_id, seed, phase, attempt, data FROM trace_chunk "
        "ORDER BY experiment_id, seed, phase, chunk"
    )
    for experiment_id, seed, phase, attempt, data in connection.execute(query).all():
        columns = tracecodec.decode(data)
        rows = []
        for i in range(len(columns["step"])):
            row: dict[str, Any] = {
                "experiment_id": experiment_id,
                "attempt": attempt,
                "seed": seed,
                "phase": phase,
                "step": int(columns["step"][i]),
                "samples": int(columns["samples"][i]),
                "created_at": now,
            }
            for name in METRICS:
                value = float(columns[name][i]) if name in columns else math.nan
                row[name] = None if math.isnan(value) else value
            rows.append(row)
        if rows:
            connection.execute(sa.insert(point), rows)
    op.drop_table("trace_chunk")


_CHUNK_COLUMNS = (
    "experiment_id",
    "seed",
    "phase",
    "chunk",
    "attempt",
    "first_step",
    "last_step",
    "points",
    "data",
)
_POINT_COLUMNS = (
    "experiment_id",
    "attempt",
    "seed",
    "phase",
    "step",
    "samples",
    *METRICS,
    "created_at",
)


def _chunks_from_points(connection: sa.Connection) -> Iterator[dict[str, Any]]:
    """Chunk rows from trace_point, one series at a time (the points of one series in memory)."""
    query = sa.text(
        "SELECT experiment_id, seed, phase, attempt, step, samples, "
        + ", ".join(METRICS)
        + " FROM trace_point ORDER BY experiment_id, seed, phase, step"
    ).execution_options(yield_per=10_000)
    result = connection.execute(query)
    series: list[Any] = []
    for row in result:
        if series and tuple(series[0][:3]) != tuple(row[:3]):
            yield from _encode_series(series)
            series = []
        series.append(row)
    if series:
        yield from _encode_series(series)


def _encode_series(rows: list[Any]) -> Iterator[dict[str, Any]]:
    experiment_id, seed, phase = rows[0][:3]
    for number, start in enumerate(range(0, len(rows), CHUNK_POINTS)):
        part = rows[start : start + CHUNK_POINTS]
        columns: dict[str, np.ndarray] = {
            "step": np.array([r[4] for r in part], dtype=np.int64),
            "samples": np.array([r[5] for r in part], dtype=np.int64),
        }
        for offset, name in enumerate(METRICS):
            values = [r[6 + offset] for r in part]
            columns[name] = np.array(
                [math.nan if v is None else v for v in values], dtype=np.float64
            )
        yield {
            "experiment_id": experiment_id,
            "seed": seed,
            "phase": phase,
            "chunk": number,
            "attempt": max(r[3] for r in part),
            "first_step": int(columns["step"][0]),
            "last_step": int(columns["step"][-1]),
            "points": len(part),
            "data": tracecodec.encode(columns),
        }
