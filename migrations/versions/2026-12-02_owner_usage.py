"""Counters per owner: experiment.charged_points and the owner_usage table (db.usage).

The queued limit and the trace quota counted and summed an owner's rows on every submit, under
the account lock; the counters make each check one row read. The upgrade fills both from what is
stored, by the rule db.usage keeps: a queued or running row with an estimate is charged it, any
other row its stored points; `queued` counts the queued rows.

Revision ID: usage01
Revises: tracepoints01
Create Date: 2026-12-02 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "usage01"
down_revision: str | Sequence[str] | None = "tracepoints01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHARGE = """
UPDATE experiment SET charged_points = CASE
    WHEN status IN ('queued', 'running') AND trace_points IS NOT NULL THEN trace_points
    ELSE (SELECT coalesce(sum(points), 0) FROM trace_chunk
          WHERE trace_chunk.experiment_id = experiment.id)
END
"""
COUNT = """
INSERT INTO owner_usage (owner, trace_points, queued)
SELECT owner, sum(charged_points), sum(CASE WHEN status = 'queued' THEN 1 ELSE 0 END)
FROM experiment GROUP BY owner
"""


def upgrade() -> None:
    # plain ALTER TABLE (no batch copy): on SQLite a batch recreates the experiment table, and
    # dropping the old one would cascade to every trace chunk, checkpoint and tag of it
    op.add_column(
        "experiment",
        sa.Column("charged_points", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "owner_usage",
        sa.Column("owner", sa.String(100), primary_key=True),
        sa.Column("trace_points", sa.BigInteger(), nullable=False),
        sa.Column("queued", sa.BigInteger(), nullable=False),
    )
    op.execute(CHARGE)
    op.execute(COUNT)


def downgrade() -> None:
    op.drop_table("owner_usage")
    op.drop_column("experiment", "charged_points")  # SQLite ≥ 3.35: DROP COLUMN
