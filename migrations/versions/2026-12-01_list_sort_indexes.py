"""Indexes for every sort of GET /experiments (db.models.list_sort_indexes).

Without them a sorted list read the whole experiment table (issue 10: 14.2k buffers, 45–57 ms
at 10^5 rows on an idle machine). Each sort key gets (key, id); the nullable ones also get
(key DESC NULLS LAST, id DESC) on PostgreSQL, the order of a descending list.

Revision ID: listsort01
Revises: shapekey01
Create Date: 2026-12-01 11:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "listsort01"
down_revision: str | Sequence[str] | None = "shapekey01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_NULL = ("created_at", "d")
NULLABLE = (
    "test_mse",
    "final_median_abs_m",
    "weak_recovery_samples",
    "held_recovery_samples",
    "held_recovery_fraction",
    "wall_time_s",
)


def upgrade() -> None:
    for key in NOT_NULL + NULLABLE:
        op.create_index(f"ix_experiment_{key}_id", "experiment", [key, "id"])
    if op.get_bind().dialect.name == "postgresql":
        for key in NULLABLE:
            op.create_index(
                f"ix_experiment_{key}_desc_id",
                "experiment",
                [sa.text(f"{key} DESC NULLS LAST"), sa.text("id DESC")],
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for key in NULLABLE:
            op.drop_index(f"ix_experiment_{key}_desc_id", table_name="experiment")
    for key in NOT_NULL + NULLABLE:
        op.drop_index(f"ix_experiment_{key}_id", table_name="experiment")
