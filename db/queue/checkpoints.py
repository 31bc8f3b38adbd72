"""Checkpoints: the latest resumable state of an experiment, one row each, written only by the
attempt that owns the experiment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import Checkpoint, Experiment
from db.queue.conditional import running_attempt
from db.types import now_utc as _now


def save_checkpoint(
    experiment_id: int,
    *,
    session: Session,
    attempt: int,
    samples: int,
    state: bytes,
    now: datetime | None = None,
) -> bool:
    """Store the latest resumable state (one row per experiment; a save replaces it).

    Only the running attempt may save: returns False (and stores nothing) when (id, attempt) is
    not running, so a zombie attempt cannot overwrite the checkpoint of its successor.
    """
    now = _now(now)
    owner = session.execute(
        select(Experiment.id).where(running_attempt(experiment_id, attempt))
    ).first()
    if owner is None:
        return False
    insert = _insert_for(session)
    statement = insert(Checkpoint).values(
        experiment_id=experiment_id, attempt=attempt, samples=samples, state=state, created_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=["experiment_id"],
        set_={
            "attempt": statement.excluded.attempt,
            "samples": statement.excluded.samples,
            "state": statement.excluded.state,
            "created_at": statement.excluded.created_at,
        },
    )
    session.execute(statement)
    return True


def load_checkpoint(experiment_id: int, *, session: Session) -> Checkpoint | None:
    """The latest checkpoint of the experiment, or None."""
    return session.execute(
        select(Checkpoint)
        .where(Checkpoint.experiment_id == experiment_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _insert_for(session: Session) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"no upsert for the {name} dialect")
