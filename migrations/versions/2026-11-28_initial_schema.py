"""Initial schema: experiment, experiment_tag, trace_point, checkpoint.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 20:32:24.341678+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGINT keys on PostgreSQL; INTEGER on SQLite, where only INTEGER PRIMARY KEY auto-increments.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "experiment",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("spec_hash", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("d", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("seeds", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("dispatched_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("samples_done", sa.BigInteger(), nullable=False),
        sa.Column("samples_total", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("started_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("finished_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("final_mean_abs_m", sa.Float(), nullable=True),
        sa.Column("final_median_abs_m", sa.Float(), nullable=True),
        sa.Column("final_max_abs_m", sa.Float(), nullable=True),
        sa.Column("test_mse", sa.Float(), nullable=True),
        sa.Column("weak_recovery_samples", sa.Float(), nullable=True),
        sa.Column("weak_recovery_fraction", sa.Float(), nullable=True),
        sa.Column("wall_time_s", sa.Float(), nullable=True),
        sa.Column("samples_per_second", sa.Float(), nullable=True),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.Column("torch_version", sa.String(length=64), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment")),
    )
    op.create_index(op.f("ix_experiment_algorithm"), "experiment", ["algorithm"], unique=False)
    op.create_index(op.f("ix_experiment_d"), "experiment", ["d"], unique=False)
    op.create_index(op.f("ix_experiment_owner"), "experiment", ["owner"], unique=False)
    op.create_index(op.f("ix_experiment_spec_hash"), "experiment", ["spec_hash"], unique=False)
    op.create_index(
        "ix_experiment_status_lease", "experiment", ["status", "lease_expires_at"], unique=False
    )
    op.create_index(
        "ix_experiment_status_priority_id", "experiment", ["status", "priority", "id"], unique=False
    )
    op.create_index(op.f("ix_experiment_target"), "experiment", ["target"], unique=False)
    op.create_table(
        "checkpoint",
        sa.Column("experiment_id", ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("samples", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiment.id"],
            name=op.f("fk_checkpoint_experiment_id_experiment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_checkpoint")),
    )
    op.create_table(
        "experiment_tag",
        sa.Column("experiment_id", ID, nullable=False),
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiment.id"],
            name=op.f("fk_experiment_tag_experiment_id_experiment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "tag", name=op.f("pk_experiment_tag")),
    )
    op.create_index(op.f("ix_experiment_tag_tag"), "experiment_tag", ["tag"], unique=False)
    op.create_table(
        "trace_point",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("experiment_id", ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("samples", sa.BigInteger(), nullable=False),
        sa.Column("mean_abs_m", sa.Float(), nullable=True),
        sa.Column("median_abs_m", sa.Float(), nullable=True),
        sa.Column("max_abs_m", sa.Float(), nullable=True),
        sa.Column("frac_m_05", sa.Float(), nullable=True),
        sa.Column("frac_m_09", sa.Float(), nullable=True),
        sa.Column("train_loss", sa.Float(), nullable=True),
        sa.Column("test_mse", sa.Float(), nullable=True),
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


def downgrade() -> None:
    # Dropping a table drops its indexes.
    op.drop_table("trace_point")
    op.drop_table("experiment_tag")
    op.drop_table("checkpoint")
    op.drop_table("experiment")
