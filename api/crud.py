"""The API's own query for creating an experiment (the keyset-paginated list is api.listing's,
the trace api.services.traces'). The queue transitions shared with the worker are db.queue's.

Helpers take the session keyword-only; the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from db import bulk, locks, usage
from db.base import Base
from db.models import Algorithm, Experiment, ExperimentTag, Status
from trainer import lanes
from trainer.spec import TARGET_PRESETS, ExperimentSpec, Resolved, trace_points


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
    return {
        "name": name,
        "owner": owner,
        "priority": priority,
        "max_attempts": max_attempts,
        **spec_values(spec, resolved),
    }


def spec_values(spec: ExperimentSpec, resolved: Resolved | None = None) -> dict[str, Any]:
    """The columns a new experiment derives from its spec alone: equal specs, equal values, so a
    bulk submit computes them once per distinct spec."""
    resolved = resolved or spec.resolved()
    points = trace_points(spec, resolved)
    return {
        "status": Status.queued,
        "spec": spec.model_dump(mode="json"),
        "spec_hash": spec.spec_hash(),
        "target": target_label(spec)[:100],
        "algorithm": Algorithm(spec.phase1.algorithm),
        "d": spec.d,
        "width": resolved.N,
        "seeds": len(spec.seed_list),
        "samples_total": resolved.total_samples,
        "shape_key": lanes.shape_key(spec, resolved),
        "memory_gb": lanes.memory_gb(spec, resolved),
        "trace_points": points,
        "charged_points": points,  # queued: it counts its estimate (db.usage)
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
    usage.charge(owner, points=experiment.charged_points, queued=1, session=session)
    return experiment


def insert_experiments(
    rows: Sequence[dict[str, Any]], tags: Sequence[Sequence[str]], *, session: Session
) -> list[int]:
    """Insert many experiments (experiment_values each) and their tags (db.bulk: COPY on
    PostgreSQL), no ORM object per row; their ids in the order of `rows`.

    The ids are taken first (`_new_ids`) and the rows inserted with them, without RETURNING:
    psycopg re-parses an INSERT … VALUES … RETURNING of a thousand rows in Python, which cost
    more than the rest of a bulk submit together."""
    ids = _new_ids(len(rows), session=session)
    experiments = [{**row, "id": i} for row, i in zip(rows, ids, strict=True)]
    bulk.insert_rows(_table(Experiment), experiments, session=session)
    for row in rows:
        usage.charge(row["owner"], points=row["charged_points"], queued=1, session=session)
    tag_rows = [
        {"experiment_id": i, "tag": tag}
        for i, names in zip(ids, tags, strict=True)
        for tag in names
    ]
    bulk.insert_rows(_table(ExperimentTag), tag_rows, session=session)
    return ids


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _new_ids(count: int, *, session: Session) -> list[int]:
    """`count` unused experiment ids, ascending. PostgreSQL: from the id sequence (concurrent
    inserts get others). SQLite: after the largest id, which is what SQLite itself would give
    (a rowid without AUTOINCREMENT); the writer lock is taken first, so no other insert can
    come between."""
    if session.get_bind().dialect.name == "postgresql":
        taken = session.scalars(
            select(func.nextval(func.pg_get_serial_sequence("experiment", "id"))).select_from(
                func.generate_series(1, count)
            )
        )
        return sorted(taken)
    locks.lock_writer(session=session)
    last = session.scalar(select(func.max(Experiment.id))) or 0
    return list(range(last + 1, last + 1 + count))
