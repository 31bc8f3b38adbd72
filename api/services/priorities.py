"""Reordering the queue: a new priority for a queued experiment or for a sweep's queued ones,
with its audit record in the same transaction, then one ring of the dispatcher's doorbell (the
order of what waits has changed)."""

from __future__ import annotations

from api import audit
from api.services import changes
from api.services.context import Context
from db import queue
from db.models import Experiment, Sweep


def set_priority(experiment: Experiment, priority: int, *, ctx: Context) -> Experiment:
    """Conflict unless the experiment is queued (a running one keeps its slot either way)."""
    before = experiment.priority
    return changes.conclude(
        experiment,
        queue.reprioritize(session=ctx.session, priority=priority, experiment_id=experiment.id) > 0,
        ctx=ctx,
        action="priority",
        detail={"owner": experiment.owner, "from": before, "to": priority},
        refusal=lambda e: (
            f"experiment {e.id} is {e.status}; only a queued experiment's priority can change"
        ),
        dispatch=True,
    )


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
