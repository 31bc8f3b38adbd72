"""Reordering the queue: a new priority for a queued experiment or for a sweep's queued ones,
with its audit record in the same transaction, then one ring of the dispatcher's doorbell (the
order of what waits has changed)."""

from __future__ import annotations

from api import audit
from api.services.context import Context
from api.services.errors import Conflict
from db import queue
from db.models import Experiment, Sweep


def set_priority(experiment: Experiment, priority: int, *, ctx: Context) -> Experiment:
    """Conflict unless the experiment is queued (a running one keeps its slot either way)."""
    session = ctx.session
    before = experiment.priority
    if not queue.reprioritize(session=session, priority=priority, experiment_id=experiment.id):
        session.rollback()
        session.refresh(experiment)
        raise Conflict(
            f"experiment {experiment.id} is {experiment.status}; only a queued experiment's "
            "priority can change"
        )
    audit.record(
        "priority",
        session=session,
        actor=ctx.principal.name,
        experiment_id=experiment.id,
        detail={"owner": experiment.owner, "from": before, "to": priority},
    )
    session.commit()
    ctx.dispatch()
    session.refresh(experiment)
    return experiment


def set_sweep_priority(sweep: Sweep, priority: int, *, ctx: Context) -> int:
    """Every queued experiment of the sweep gets `priority`; returns how many (0 is no error:
    a finished sweep has none left to reorder)."""
    session = ctx.session
    changed = queue.reprioritize(session=session, priority=priority, sweep_id=sweep.id)
    audit.record(
        "priority_sweep",
        session=session,
        actor=ctx.principal.name,
        detail={"sweep_id": sweep.id, "owner": sweep.owner, "to": priority, "changed": changed},
    )
    session.commit()
    if changed:
        ctx.dispatch()
    return changed
