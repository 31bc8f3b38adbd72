"""experiment.held_recovery_samples and held_recovery_fraction summary columns.

Held recovery (trainer/recovery.py): median |m| reached eval.held_threshold and never fell below
eval.held_floor afterwards. The columns summarise it over seeds like weak_recovery_*, so lists
filter and sort on it. Rows finished before this revision keep NULL (their results lack it).

Revision ID: recovery01
Revises: ownertime01
Create Date: 2026-12-01 10:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "recovery01"
down_revision: str | Sequence[str] | None = "ownertime01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("experiment") as batch:
        batch.add_column(sa.Column("held_recovery_samples", sa.Float(), nullable=True))
        batch.add_column(sa.Column("held_recovery_fraction", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("experiment") as batch:
        batch.drop_column("held_recovery_fraction")
        batch.drop_column("held_recovery_samples")
