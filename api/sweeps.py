"""The API's sweep queries: create (idempotent per owner and sweep hash), the experiments,
progress and status of a sweep, cancel. Its per-seed rows and cells are api.sweep_cells'.

Helpers take the session keyword-only; the caller commits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import crud
from api.expand import Planned, axis_paths
from api.schemas import SweepCreate
from db import queue
from db.models import Experiment, Status, Sweep, SweepStatus


# ------------------------------------------------------------------------------------ create
def find(*, session: Session, owner: str, sweep_hash: str) -> Sweep | None:
    return session.scalar(select(Sweep).where(Sweep.owner == owner, Sweep.sweep_hash == sweep_hash))


def create(
    body: SweepCreate,
    *,
    session: Session,
    definition: dict[str, Any],
    sweep_hash: str,
    planned: Sequence[Planned],
    owner: str,
) -> tuple[Sweep, bool]:
    """The sweep and whether it was created now; its name, tags, priority and attempts are the
    submitted `body`'s. An existing sweep with the same owner and hash is returned unchanged;
    when a concurrent request inserted it first, the unique constraint fails, this session is
    rolled back (it held nothing else) and that sweep is returned."""
    name, tags = body.name, body.tags
    existing = find(session=session, owner=owner, sweep_hash=sweep_hash)
    if existing is not None:
        return existing, False
    sweep = Sweep(
        name=name,
        owner=owner,
        sweep_hash=sweep_hash,
        definition=definition,
        axes=axis_paths(definition.get("axes") or []),
        cells=len({p.cell_key for p in planned}),
        experiments_total=len(planned),
        cancel_requested=False,
    )
    session.add(sweep)
    try:
        session.flush()
    except IntegrityError:  # the same sweep, inserted by a concurrent request: use that one
        session.rollback()
        existing = find(session=session, owner=owner, sweep_hash=sweep_hash)
        if existing is None:
            raise
        return existing, False
    label = name or f"sweep {sweep.id}"
    rows = []
    for plan in planned:
        cell = " ".join(f"{path}={_short(value)}" for path, value in plan.values.items())
        suffix = f" part {plan.part}" if plan.part else ""
        row = crud.experiment_values(
            plan.spec,
            owner=owner,
            name=f"{label}: {cell}{suffix}"[:200],
            priority=body.priority,
            max_attempts=body.max_attempts,
        )
        rows.append({**row, "sweep_id": sweep.id, "cell_key": plan.cell_key})
    # Multi-row INSERTs, ids in expansion order (what `experiments` sorts by).
    crud.insert_experiments(rows, [tags] * len(rows), session=session)
    return sweep, True


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 40 else text[:37] + "..."


# ------------------------------------------------------------------------------------- state
def experiments(*, session: Session, sweep_id: int) -> list[Experiment]:
    """The sweep's experiments in expansion order (ids were assigned in that order)."""
    return list(
        session.scalars(
            select(Experiment).where(Experiment.sweep_id == sweep_id).order_by(Experiment.id)
        )
    )


def progress(*, session: Session, sweep_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Per sweep: experiments by status and the summed samples_done / samples_total."""
    out: dict[int, dict[str, Any]] = {
        i: {"progress": dict.fromkeys(Status, 0), "samples_done": 0, "samples_total": 0}
        for i in sweep_ids
    }
    if not sweep_ids:
        return out
    rows = session.execute(
        select(
            Experiment.sweep_id,
            Experiment.status,
            func.count(),
            func.coalesce(func.sum(Experiment.samples_done), 0),
            func.coalesce(func.sum(Experiment.samples_total), 0),
        )
        .where(Experiment.sweep_id.in_(list(sweep_ids)))
        .group_by(Experiment.sweep_id, Experiment.status)
    )
    for sweep_id, status, count, done, total in rows:
        if sweep_id is None:  # the WHERE has excluded it; this tells the type checker so
            continue
        entry = out[sweep_id]
        entry["progress"][status] = int(count)
        entry["samples_done"] += int(done)
        entry["samples_total"] += int(total)
    return out


def status_of(sweep: Sweep, counts: dict[str, int]) -> SweepStatus:
    if counts.get(Status.running):
        return SweepStatus.running
    if counts.get(Status.queued):
        return SweepStatus.queued
    if sweep.cancel_requested:
        return SweepStatus.cancelled
    if sum(counts.values()) == counts.get(Status.completed, 0):
        return SweepStatus.completed
    return SweepStatus.finished


def cancel(*, session: Session, sweep: Sweep) -> int:
    """Cancel every queued or running experiment of the sweep (queued at once, running at the
    next heartbeat) and mark the sweep; returns how many experiments were affected."""
    active = session.scalars(
        select(Experiment.id).where(
            Experiment.sweep_id == sweep.id,
            Experiment.status.in_([Status.queued, Status.running]),
        )
    )
    ids = list(active)
    for experiment_id in ids:
        queue.request_cancel(experiment_id, session=session)
    sweep.cancel_requested = True
    session.flush()
    return len(ids)
