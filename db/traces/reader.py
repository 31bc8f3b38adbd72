"""The reader side: decoded chunks from a streaming cursor, joined into series, or as points."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import tracecodec
from db.models import TraceChunk
from db.traces.chunks import KEYS, Series

# Chunks fetched per round trip when reading.
READ_BATCH = 32


def read(
    *,
    session: Session,
    experiment_ids: Sequence[int],
    names: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    phase: str | None = None,
    step_min: int | None = None,
    step_max: int | None = None,
) -> Iterator[Series]:
    """Decoded chunks in (experiment, seed, phase, step) order, one Series per chunk, trimmed to
    the step range; `names` picks the metric columns (a name a chunk lacks: NaN)."""
    query = select(
        TraceChunk.experiment_id, TraceChunk.seed, TraceChunk.phase, TraceChunk.data
    ).where(TraceChunk.experiment_id.in_(list(experiment_ids)))
    if seeds:
        query = query.where(TraceChunk.seed.in_(list(seeds)))
    if phase is not None:
        query = query.where(TraceChunk.phase == phase)
    if step_min is not None:
        query = query.where(TraceChunk.last_step >= step_min)
    if step_max is not None:
        query = query.where(TraceChunk.first_step <= step_max)
    query = query.order_by(
        TraceChunk.experiment_id, TraceChunk.seed, TraceChunk.phase, TraceChunk.chunk
    )
    result = session.execute(query.execution_options(yield_per=READ_BATCH))
    for experiment_id, seed, chunk_phase, data in result:
        stored = tracecodec.decode(data)
        steps = stored["step"]
        mask = None
        if step_min is not None:
            mask = steps >= step_min
        if step_max is not None:
            mask = (steps <= step_max) if mask is None else mask & (steps <= step_max)
        chosen = [n for n in stored if n not in KEYS] if names is None else list(names)
        columns = {key: stored[key] for key in KEYS}
        for name in chosen:
            columns[name] = stored[name] if name in stored else np.full(len(steps), np.nan)
        if mask is not None:
            columns = {name: values[mask] for name, values in columns.items()}
        if len(columns["step"]):
            yield Series(experiment_id, seed, chunk_phase, columns)


def read_series(*, session: Session, experiment_ids: Sequence[int], **filters: Any) -> list[Series]:
    """`read`'s chunks joined into one Series per (experiment, seed, phase), same order."""
    out: list[Series] = []
    parts: list[Series] = []
    for part in read(session=session, experiment_ids=experiment_ids, **filters):
        if parts and _key(parts[0]) != _key(part):
            out.append(_join(parts))
            parts = []
        parts.append(part)
    if parts:
        out.append(_join(parts))
    return out


def points(*, session: Session, experiment_id: int) -> list[dict[str, Any]]:
    """Every stored point as a dict (seed, phase, step, samples, attempt: the chunk's writer, and
    the metrics; None: not measured), in (seed, phase, step) order. For tools and tests."""
    query = (
        select(TraceChunk.seed, TraceChunk.phase, TraceChunk.attempt, TraceChunk.data)
        .where(TraceChunk.experiment_id == experiment_id)
        .order_by(TraceChunk.seed, TraceChunk.phase, TraceChunk.chunk)
    )
    out: list[dict[str, Any]] = []
    for seed, phase, attempt, data in session.execute(query):
        columns = {name: values.tolist() for name, values in tracecodec.decode(data).items()}
        for i in range(len(columns["step"])):
            point: dict[str, Any] = {"seed": seed, "phase": phase, "attempt": attempt}
            for name, values in columns.items():
                value = values[i]
                missing = isinstance(value, float) and math.isnan(value)
                point[name] = None if missing else value  # NaN: not measured
            out.append(point)
    return out


def count_points(*, session: Session, experiment_id: int) -> int:
    """Stored points of an experiment, from the chunk headers (nothing decoded)."""
    total = session.scalar(
        select(func.coalesce(func.sum(TraceChunk.points), 0)).where(
            TraceChunk.experiment_id == experiment_id
        )
    )
    return int(total or 0)


def _key(series: Series) -> tuple[int, int, str]:
    return (series.experiment_id, series.seed, series.phase)


def _join(parts: list[Series]) -> Series:
    if len(parts) == 1:
        return parts[0]
    names = dict.fromkeys(name for part in parts for name in part.columns)
    columns = {
        name: np.concatenate([p.columns.get(name, np.full(len(p), np.nan)) for p in parts])
        for name in names
    }
    return Series(parts[0].experiment_id, parts[0].seed, parts[0].phase, columns)
