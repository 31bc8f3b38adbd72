"""Sweeps: the sweep table; experiment.sweep_id and experiment.cell_key.

Revision ID: sweeps01
Revises: 0001
Create Date: 2026-11-28 20:51:42.447977+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "sweeps01"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGINT keys on PostgreSQL; INTEGER on SQLite, where only INTEGER PRIMARY KEY auto-increments.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sweep",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("sweep_hash", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("axes", sa.JSON(), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("experiments_total", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweep")),
        sa.UniqueConstraint("owner", "sweep_hash", name=op.f("uq_sweep_owner_sweep_hash")),
    )
    op.create_index(op.f("ix_sweep_owner"), "sweep", ["owner"], unique=False)
    # Batch mode: SQLite cannot add a foreign key to an existing table in place.
    with op.batch_alter_table("experiment") as batch_op:
        batch_op.add_column(sa.Column("sweep_id", ID, nullable=True))
        batch_op.add_column(sa.Column("cell_key", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_experiment_sweep_id"), ["sweep_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_experiment_sweep_id_sweep"),
            "sweep",
            ["sweep_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("experiment") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_experiment_sweep_id_sweep"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_experiment_sweep_id"))
        batch_op.drop_column("cell_key")
        batch_op.drop_column("sweep_id")
    op.drop_table("sweep")  # drops its indexes
