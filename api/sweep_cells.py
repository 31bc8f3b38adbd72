"""A sweep's results as rows: one per seed of each finished experiment, grouped into cells
(experiments that differ only in seed), and the trace points and first threshold crossings that
aggregation (api/aggregate.py) works on."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from api.aggregate import is_missing, summarize
from db import traces
from db.models import FINISHED_WITH_RESULT, Experiment, Sweep

# Per-seed results (experiment.result["seeds"][i]) that are aggregated, plus `recovered`
# (1 when the seed reached weak recovery, else 0: its mean is the fraction that recovered) and
# `diverged` (1 when a non-finite value stopped the seed: a recovery before that may not hold).
SEED_FIELDS = (
    "final_mean_abs_m",
    "final_median_abs_m",
    "final_max_abs_m",
    "final_frac_m_09",
    "test_mse",
    "weak_recovery_samples",
    "weak_recovery_step",
    "recovered",
    "diverged",
)
DERIVED = ("recovered", "diverged")


def seed_rows(experiment: Experiment) -> list[dict[str, Any]]:
    """One row per seed of a finished experiment: the SEED_FIELDS (None when absent)."""
    result = experiment.result or {}
    rows = []
    for seed in result.get("seeds") or []:
        row = {name: seed.get(name) for name in SEED_FIELDS if name not in DERIVED}
        row["seed"] = seed.get("seed")
        finished = experiment.status in FINISHED_WITH_RESULT
        row["recovered"] = (
            None
            if not finished
            else (0.0 if is_missing(seed.get("weak_recovery_samples")) else 1.0)
        )
        row["diverged"] = (
            None if not finished else (0.0 if seed.get("diverged_at_step") is None else 1.0)
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
        value: Any = point.get(metric)
        if not is_missing(value) and value >= threshold:
            out[key] = float(point["samples"])
    return out


def to_float(value: Any) -> float | None:
    return None if is_missing(value) else float(value)


def numeric(value: Any) -> float | None:
    """A number for an axis value (d): numbers as they are, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
