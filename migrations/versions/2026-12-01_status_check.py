"""A CHECK constraint on experiment.status: the column holds a db.models.Status value or nothing.

The ORM already refuses any other value before it sends SQL (db.types.str_enum); the constraint
holds hand-written SQL, other clients and later code to the same rule. The values are frozen here
(a migration does not follow the application code), and tests/db/test_migration_status_check.py
checks them against Status.

PostgreSQL adds the constraint in place (ALTER TABLE ... ADD CONSTRAINT, which checks the stored
rows). SQLite cannot add a constraint to a table: the batch copy builds a new experiment table and
drops the old one, which is safe only with foreign keys off (with them on, the DROP would cascade
into trace_chunk, checkpoint, experiment_tag and idempotency_key); migrations/env.py turns them off
for SQLite, and this migration refuses to run where they are still on.

Revision ID: statuscheck01
Revises: listsort01
Create Date: 2026-12-01 17:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "statuscheck01"
down_revision: str | Sequence[str] | None = "listsort01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("queued", "running", "completed", "diverged", "failed", "cancelled")
NAME = "ck_experiment_status"


def upgrade() -> None:
    _refuse_cascades()
    values = ", ".join(f"'{status}'" for status in STATUSES)
    with op.batch_alter_table("experiment") as batch:
        batch.create_check_constraint(op.f(NAME), f"status IN ({values})")


def downgrade() -> None:
    _refuse_cascades()
    with op.batch_alter_table("experiment") as batch:
        batch.drop_constraint(op.f(NAME), type_="check")


def _refuse_cascades() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "SQLite foreign keys are on: rebuilding experiment would delete the rows that "
            "reference it (run migrations through migrations/env.py, which turns them off)"
        )
