"""The one conditional UPDATE every state change of the queue is made of, and the WHERE clause
most of them share: "this attempt still owns the experiment"."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, update
from sqlalchemy.orm import Session

from db.models import Experiment, Status
from db.session import rowcount


def running_attempt(experiment_id: int, attempt: int) -> Any:
    """The experiment is running this attempt (not reaped, finished or superseded)."""
    return and_(
        Experiment.id == experiment_id,
        Experiment.attempt == attempt,
        Experiment.status == Status.running,
    )


def update_where(session: Session, where: Any, **values: Any) -> bool:
    """One conditional UPDATE of experiment; True when it matched a row."""
    result = session.execute(
        update(Experiment)
        .where(where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) > 0
