"""experiment.trace_points: the trace points a run will store, for the per-user trace quota.

The API computes it at submit (trainer.spec.trace_points) and sums it over a user's queued and
running experiments. Rows from before this revision keep NULL: the quota counts their stored
points instead (api/services/trace_quota.py), so no spec needs to be re-read here.

Revision ID: tracepoints01
Revises: statuscheck01
Create Date: 2026-12-01 17:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tracepoints01"
down_revision: str | Sequence[str] | None = "statuscheck01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ALTER TABLE (no batch copy): on SQLite a batch recreates the experiment table, and
    # dropping the old one would cascade to every trace chunk, checkpoint and tag of it
    op.add_column("experiment", sa.Column("trace_points", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("experiment", "trace_points")  # SQLite ≥ 3.35: DROP COLUMN
