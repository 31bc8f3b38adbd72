"""The API's own queries: create and trace (the keyset-paginated list is api.listing's). The queue transitions shared with the
worker (cancel, retry, dispatch bookkeeping) are db.queue's.

Helpers take the session keyword-only; the caller commits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Experiment, ExperimentTag, TracePoint
from trainer.spec import TARGET_PRESETS, ExperimentSpec


# ------------------------------------------------------------------------------------ create
def target_label(spec: ExperimentSpec) -> str:
    """'h3', 'h3+h4' for the named targets, else 'hermite:3=0.5,4=0.8' (degrees ascending, the
    coefficients as given, before normalization)."""
    given = {int(k): float(c) for k, c in spec.target.hermite.items() if float(c) != 0.0}
    for name, coefficients in TARGET_PRESETS.items():
        if given == {k: float(c) for k, c in coefficients.items()}:
            return name
    return "hermite:" + ",".join(f"{k}={given[k]:g}" for k in sorted(given))


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
    resolved = spec.resolved()
    experiment = Experiment(
        name=name,
        owner=owner,
        priority=priority,
        max_attempts=max_attempts,
        status="queued",
        spec=spec.model_dump(mode="json"),
        spec_hash=spec.spec_hash(),
        target=target_label(spec)[:100],
        algorithm=spec.phase1.algorithm,
        d=spec.d,
        width=resolved.N,
        seeds=len(spec.seed_list),
        samples_total=resolved.total_samples,
        tags=[ExperimentTag(tag=tag) for tag in tags],
    )
    session.add(experiment)
    session.flush()
    return experiment


# ------------------------------------------------------------------------------------- trace
@dataclass
class TraceRow:
    seed: int
    phase: str
    step: int
    samples: int
    values: dict[str, float | None]


def trace_rows(
    *,
    session: Session,
    experiment_id: int,
    metrics: Sequence[str],
    seeds: Sequence[int] | None,
    phase: str | None,
    step_min: int | None,
    step_max: int | None,
) -> list[TraceRow]:
    columns = [getattr(TracePoint, name) for name in metrics]
    query = select(
        TracePoint.seed, TracePoint.phase, TracePoint.step, TracePoint.samples, *columns
    ).where(TracePoint.experiment_id == experiment_id)
    if seeds:
        query = query.where(TracePoint.seed.in_(list(seeds)))
    if phase is not None:
        query = query.where(TracePoint.phase == phase)
    if step_min is not None:
        query = query.where(TracePoint.step >= step_min)
    if step_max is not None:
        query = query.where(TracePoint.step <= step_max)
    query = query.order_by(TracePoint.seed, TracePoint.phase, TracePoint.step)
    return [
        TraceRow(row[0], row[1], row[2], row[3], dict(zip(metrics, row[4:], strict=True)))
        for row in session.execute(query)
    ]


def downsample(rows: list[TraceRow], metrics: Sequence[str], max_points: int) -> list[TraceRow]:
    """At most about `max_points` rows that keep the shape of every curve.

    Each series (one seed in one phase, ordered by step) is cut into buckets of consecutive
    points (equal counts, so log-spaced evaluations are thinned evenly on a log axis); a bucket
    keeps the points holding the minimum and the maximum of each chosen metric, and every series
    keeps its first and last point. So the global minimum and maximum of every metric of every
    seed survive. The metrics' extremes often fall on the same points, so the number of buckets
    is the largest (found by bisection) whose kept points still fit the series' share of the
    budget. A series needs up to 2 + 2·len(metrics) points however small the budget, so the
    result can exceed `max_points` when it is smaller than that times the number of series.
    """
    if len(rows) <= max_points:
        return rows
    series: dict[tuple[int, str], list[TraceRow]] = {}
    for row in rows:
        series.setdefault((row.seed, row.phase), []).append(row)
    budget = max(1, max_points // len(series))
    per_bucket = max(1, 2 * len(metrics))
    out: list[TraceRow] = []
    for points in series.values():
        if len(points) <= budget:
            out.extend(points)
            continue
        low = max(1, (budget - 2) // per_bucket)  # fits even if no two extremes coincide
        high = max(low, (budget - 2) // 2)  # every bucket keeps at least one point
        keep = _bucket_extremes(points, metrics, low)
        while low < high:
            middle = (low + high + 1) // 2
            candidate = _bucket_extremes(points, metrics, middle)
            if len(candidate) <= budget:
                low, keep = middle, candidate
            else:
                high = middle - 1
        out.extend(points[i] for i in sorted(keep))
    return out


def _bucket_extremes(points: list[TraceRow], metrics: Sequence[str], buckets: int) -> set[int]:
    """Indices of the first and last point and of each bucket's min and max of every metric."""
    keep = {0, len(points) - 1}
    for b in range(buckets):
        start = b * len(points) // buckets
        stop = (b + 1) * len(points) // buckets
        for name in metrics:
            present = [i for i in range(start, stop) if _finite(points[i].values[name])]
            if present:
                keep.add(min(present, key=lambda i: points[i].values[name]))
                keep.add(max(present, key=lambda i: points[i].values[name]))
    return keep


def _finite(value: float | None) -> bool:
    return value is not None and not math.isnan(value)
