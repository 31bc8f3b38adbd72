"""The API's sweep queries: create (idempotent per owner and sweep hash), progress, cancel, and
the per-seed rows and trace points that aggregation (api/aggregate.py) works on.

Helpers take the session keyword-only; the caller commits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import crud
from api.aggregate import finite, is_missing, summarize
from api.expand import Planned, axis_paths
from db import queue, traces
from db.models import TERMINAL, Experiment, Status, Sweep

# Per-seed results (experiment.result["seeds"][i]) that are aggregated, plus `recovered`
# (1 when the seed reached weak recovery, else 0: its mean is the fraction that recovered).
SEED_FIELDS = (
    "final_mean_abs_m",
    "final_median_abs_m",
    "final_max_abs_m",
    "final_frac_m_09",
    "test_mse",
    "weak_recovery_samples",
    "weak_recovery_step",
    "recovered",
)
STATUSES = tuple(s.value for s in Status)


# ------------------------------------------------------------------------------------ create
def find(*, session: Session, owner: str, sweep_hash: str) -> Sweep | None:
    return session.scalar(select(Sweep).where(Sweep.owner == owner, Sweep.sweep_hash == sweep_hash))


def create(
    *,
    session: Session,
    definition: dict[str, Any],
    sweep_hash: str,
    planned: Sequence[Planned],
    owner: str,
    name: str,
    tags: Sequence[str],
    priority: int,
    max_attempts: int,
) -> tuple[Sweep, bool]:
    """The sweep and whether it was created now. An existing sweep with the same owner and hash
    is returned unchanged; when a concurrent request inserted it first, the unique constraint
    fails, this session is rolled back (it held nothing else) and that sweep is returned."""
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
    for plan in planned:
        cell = " ".join(f"{path}={_short(value)}" for path, value in plan.values.items())
        suffix = f" part {plan.part}" if plan.part else ""
        experiment = crud.create_experiment(
            session=session,
            spec=plan.spec,
            owner=owner,
            name=f"{label}: {cell}{suffix}"[:200],
            tags=tags,
            priority=priority,
            max_attempts=max_attempts,
        )
        experiment.sweep_id = sweep.id
        experiment.cell_key = plan.cell_key
    session.flush()
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
        i: {"progress": dict.fromkeys(STATUSES, 0), "samples_done": 0, "samples_total": 0}
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
        if sweep_id is None:  # never: the IN above matches no NULL
            continue
        entry = out[sweep_id]
        entry["progress"][status] = int(count)
        entry["samples_done"] += int(done)
        entry["samples_total"] += int(total)
    return out


def status_of(sweep: Sweep, counts: dict[str, int]) -> str:
    if counts.get("running"):
        return "running"
    if counts.get("queued"):
        return "queued"
    if sweep.cancel_requested:
        return "cancelled"
    if sum(counts.values()) == counts.get("completed", 0):
        return "completed"
    return "finished"


def cancel(*, session: Session, sweep: Sweep) -> int:
    """Cancel every queued or running experiment of the sweep (queued at once, running at the
    next heartbeat) and mark the sweep; returns how many experiments were affected."""
    active = session.scalars(
        select(Experiment.id).where(
            Experiment.sweep_id == sweep.id,
            Experiment.status.in_([Status.queued.value, Status.running.value]),
        )
    )
    ids = list(active)
    for experiment_id in ids:
        queue.request_cancel(experiment_id, session=session)
    sweep.cancel_requested = True
    session.flush()
    return len(ids)


# -------------------------------------------------------------------------------- aggregation
def seed_rows(experiment: Experiment) -> list[dict[str, Any]]:
    """One row per seed of a finished experiment: the SEED_FIELDS (None when absent)."""
    result = experiment.result or {}
    rows = []
    for seed in result.get("seeds") or []:
        row = {name: seed.get(name) for name in SEED_FIELDS if name != "recovered"}
        row["seed"] = seed.get("seed")
        row["recovered"] = (
            None
            if experiment.status not in ("completed", "diverged")
            else (0.0 if is_missing(seed.get("weak_recovery_samples")) else 1.0)
        )
        rows.append(row)
    return rows


def cell_summaries(
    sweep: Sweep,
    members: Sequence[Experiment],
    fields: Sequence[str] = SEED_FIELDS,
) -> list[dict[str, Any]]:
    """Per cell, in expansion order: the axis values, cell_key, experiment count and status
    counts, seeds with results, and summarize() of each field over those seeds."""
    by_cell: dict[str, list[Experiment]] = {}
    for experiment in members:
        by_cell.setdefault(experiment.cell_key or "{}", []).append(experiment)
    out = []
    for key, group in by_cell.items():
        values = json.loads(key)
        rows = [row for experiment in group for row in seed_rows(experiment)]
        statuses: dict[str, int] = {}
        for experiment in group:
            statuses[experiment.status] = statuses.get(experiment.status, 0) + 1
        cell: dict[str, Any] = {path: values.get(path) for path in sweep.axes}
        cell.update(
            cell_key=key,
            experiments=len(group),
            experiment_ids=[e.id for e in group],
            statuses=statuses,
            seeds=len(rows),
        )
        for name in fields:
            cell[name] = summarize(row.get(name) for row in rows)
        out.append(cell)
    return out


CSV_STATS = ("mean", "std", "ci95_low", "ci95_high", "n", "n_missing")


def csv_columns(sweep: Sweep, fields: Sequence[str]) -> list[str]:
    return [
        *sweep.axes,
        "cell_key",
        "experiments",
        "seeds",
        *(f"{name}.{stat}" for name in fields for stat in CSV_STATS),
    ]


def trace_points(
    *,
    session: Session,
    experiment_ids: Sequence[int],
    metrics: Sequence[str],
) -> list[dict[str, Any]]:
    """Trace points of these experiments as dicts (experiment_id, seed, phase, step, samples and
    the metrics; None: not measured), ordered by experiment, seed, phase, step."""
    if not experiment_ids:
        return []
    out: list[dict[str, Any]] = []
    for part in traces.read(session=session, experiment_ids=experiment_ids, names=metrics):
        columns = [part.columns["step"].tolist(), part.columns["samples"].tolist()]
        columns += [
            [None if math.isnan(v) else v for v in part.columns[m].tolist()] for m in metrics
        ]
        for step, samples, *values in zip(*columns, strict=True):
            point = {"experiment_id": part.experiment_id, "seed": part.seed, "phase": part.phase}
            point |= {"step": step, "samples": samples, **dict(zip(metrics, values, strict=True))}
            out.append(point)
    return out


def first_crossing(
    points: Sequence[dict[str, Any]], metric: str, threshold: float
) -> dict[tuple[int, int], float | None]:
    """Per (experiment, seed): the samples at the first Phase I point with metric ≥ threshold
    (None: never). `points` ordered by experiment, seed, phase, step (trace_points' order)."""
    out: dict[tuple[int, int], float | None] = {}
    for point in points:
        key = (point["experiment_id"], point["seed"])
        out.setdefault(key, None)
        if out[key] is not None or point["phase"] != "phase1":
            continue
        value = finite(point.get(metric))
        if value is not None and value >= threshold:
            out[key] = float(point["samples"])
    return out


def finished(experiment: Experiment) -> bool:
    return experiment.status in {s.value for s in TERMINAL}


def to_float(value: Any) -> float | None:
    return None if is_missing(value) else float(value)


def numeric(value: Any) -> float | None:
    """A number for an axis value (d): numbers as they are, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
