"""The API's own query for creating an experiment (the keyset-paginated list is api.listing's,
the trace api.services.traces'). The queue transitions shared with the worker are db.queue's.

Helpers take the session keyword-only; the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from db.models import Experiment, ExperimentTag, Status
from trainer import lanes
from trainer.spec import TARGET_PRESETS, ExperimentSpec, Resolved


# ------------------------------------------------------------------------------------ create
def target_label(spec: ExperimentSpec) -> str:
    """'h3', 'h3+h4' for the named targets, else 'hermite:3=0.5,4=0.8' (degrees ascending, the
    coefficients as given, before normalization)."""
    given = {int(k): float(c) for k, c in spec.target.hermite.items() if float(c) != 0.0}
    for name, coefficients in TARGET_PRESETS.items():
        if given == {k: float(c) for k, c in coefficients.items()}:
            return name
    return "hermite:" + ",".join(f"{k}={given[k]:g}" for k in sorted(given))


def experiment_values(
    spec: ExperimentSpec,
    *,
    owner: str,
    name: str,
    priority: int,
    max_attempts: int,
    resolved: Resolved | None = None,
) -> dict[str, Any]:
    """The columns of a new queued experiment (its tags are rows of their own)."""
    resolved = resolved or spec.resolved()
    return {
        "name": name,
        "owner": owner,
        "priority": priority,
        "max_attempts": max_attempts,
        "status": Status.queued,
        "spec": spec.model_dump(mode="json"),
        "spec_hash": spec.spec_hash(),
        "target": target_label(spec)[:100],
        "algorithm": spec.phase1.algorithm,
        "d": spec.d,
        "width": resolved.N,
        "seeds": len(spec.seed_list),
        "samples_total": resolved.total_samples,
        "shape_key": lanes.shape_key(spec),
        "memory_gb": lanes.memory_gb(spec, resolved),
    }


def create_experiment(
    *,
    session: Session,
    spec: ExperimentSpec,
    owner: str,
    name: str,
    tags: Sequence[str],
    priority: int,
    max_attempts: int,
) -> Experiment:
    values = experiment_values(
        spec, owner=owner, name=name, priority=priority, max_attempts=max_attempts
    )
    experiment = Experiment(**values, tags=[ExperimentTag(tag=tag) for tag in tags])
    session.add(experiment)
    session.flush()
    return experiment


def insert_experiments(
    rows: Sequence[dict[str, Any]], tags: Sequence[Sequence[str]], *, session: Session
) -> list[int]:
    """Insert many experiments (experiment_values each) and their tags with one multi-row INSERT
    per table, no ORM object per row; their ids in the order of `rows`."""
    ids = list(
        session.scalars(
            insert(Experiment).returning(Experiment.id, sort_by_parameter_order=True), list(rows)
        )
    )
    tag_rows = [
        {"experiment_id": i, "tag": tag}
        for i, names in zip(ids, tags, strict=True)
        for tag in names
    ]
    if tag_rows:
        session.execute(insert(ExperimentTag), tag_rows)
    return ids
