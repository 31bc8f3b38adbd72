"""experiment.shape_key, memory_gb and group_head: fused groups (issue 9).

shape_key is trainer.lanes.shape_key of the spec, stored by the API at submit, so the dispatcher
(db.scheduler) forms groups by comparing strings; memory_gb is the spec's memory estimate, summed
against SILAB_GROUP_MEMORY_GB; group_head names the group a dispatched or running experiment
belongs to (a group holds one worker slot). Rows submitted before this revision keep NULL keys:
they are never grouped, and run alone as before.

Revision ID: shapekey01
Revises: tracechunk01
Create Date: 2026-12-01 11:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "shapekey01"
down_revision: str | Sequence[str] | None = "tracechunk01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # plain ALTER TABLE (no batch copy): on SQLite a batch recreates the experiment table, and
    # dropping the old one would cascade to every row that references it
    op.add_column("experiment", sa.Column("shape_key", sa.String(64), nullable=True))
    op.add_column("experiment", sa.Column("memory_gb", sa.Float(), nullable=True))
    op.add_column("experiment", sa.Column("group_head", Id, nullable=True))
    op.create_index("ix_experiment_shape_key", "experiment", ["shape_key"])


def downgrade() -> None:
    op.drop_index("ix_experiment_shape_key", table_name="experiment")
    for column in ("group_head", "memory_gb", "shape_key"):  # SQLite ≥ 3.35: DROP COLUMN
        op.drop_column("experiment", column)
