"""The trace store: points kept as chunks of one seed's series in one phase (db.models.TraceChunk).

Writer side (the worker): `OpenChunks` holds the chunks an attempt has not yet seen committed;
each flush upserts them WHOLE (`upsert`), so a rewrite is idempotent and a redelivered flush
changes nothing. On resume from a checkpoint at step s, `OpenChunks.reload` reads back the last
stored chunk of every series, keeps its points with step ≤ s, and continues the ordinals from
there; the re-emitted points land on the same keys with the same numbers. A stored chunk is
never replaced by one with fewer points (the upsert's WHERE), so a resumed attempt rewriting an
open chunk does not hide, even for a moment, the points the earlier attempt stored after s.

Reader side: `read` yields decoded chunks in (experiment, seed, phase, step) order from a
streaming cursor (constant memory for any length); `read_series` concatenates them per series.
`merge_points` adds loose points (fixtures, the migration, tools) by read-modify-write.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db import tracecodec
from db.models import TraceChunk

# Points per chunk. Part of every chunk's key (ordinal // CHUNK_POINTS): changing it needs a
# migration that rechunks. 2048 points of 7 metrics are ~150 kB raw, a few ms to encode.
CHUNK_POINTS = 2048
# The two integer columns of every block; every other column is a float64 metric.
KEYS = ("step", "samples")
# Chunks fetched per round trip when reading.
READ_BATCH = 32


@dataclass
class Series:
    """Consecutive points of one seed in one phase: `columns` holds step, samples (int64) and
    float64 metrics (NaN: not measured), all of equal length, ordered by step."""

    experiment_id: int
    seed: int
    phase: str
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["step"])


@dataclass
class ChunkRow:
    seed: int
    phase: str
    chunk: int
    first_step: int
    last_step: int
    points: int
    data: bytes


@dataclass
class _Chunk:
    rows: list[tuple[int, int, dict[str, float]]] = field(default_factory=list)

    def encode(self, seed: int, phase: str, chunk: int) -> ChunkRow:
        names = list(dict.fromkeys(name for _, _, values in self.rows for name in values))
        columns: dict[str, np.ndarray] = {
            "step": np.array([row[0] for row in self.rows], dtype=np.int64),
            "samples": np.array([row[1] for row in self.rows], dtype=np.int64),
        }
        for name in names:
            columns[name] = np.array(
                [row[2].get(name, math.nan) for row in self.rows], dtype=np.float64
            )
        first, last = self.rows[0][0], self.rows[-1][0]
        data = tracecodec.encode(columns)
        return ChunkRow(seed, phase, chunk, first, last, len(self.rows), data)


class OpenChunks:
    """The chunks of one attempt not yet known to be stored in full. Not thread-safe: the worker
    guards it with its buffer lock."""

    def __init__(self) -> None:
        self._chunks: dict[tuple[int, str, int], _Chunk] = {}
        self._current: dict[tuple[int, str], int] = {}
        self._dirty: set[tuple[int, str, int]] = set()

    def add(
        self,
        *,
        phase: str,
        step: int,
        samples: int,
        seeds: Sequence[int],
        metrics: Mapping[str, Sequence[float | None]],
    ) -> None:
        """One evaluation point of every seed (per-seed metric lists, like EvalPoint)."""
        for index, seed in enumerate(seeds):
            values = {name: _float(column[index]) for name, column in metrics.items()}
            number = self._current.get((seed, phase), 0)
            chunk = self._chunks.setdefault((seed, phase, number), _Chunk())
            if len(chunk.rows) >= CHUNK_POINTS:
                number += 1
                chunk = self._chunks.setdefault((seed, phase, number), _Chunk())
            self._current[(seed, phase)] = number
            chunk.rows.append((int(step), int(samples), values))
            self._dirty.add((seed, phase, number))

    def take(self) -> list[ChunkRow]:
        """The changed chunks, encoded; call `written` or `failed` with them afterwards."""
        rows = [self._chunks[key].encode(*key) for key in sorted(self._dirty)]
        self._dirty.clear()
        return rows

    def peek(self) -> list[ChunkRow]:
        """The changed chunks, encoded, left marked as changed."""
        return [self._chunks[key].encode(*key) for key in sorted(self._dirty)]

    def written(self, rows: Iterable[ChunkRow]) -> None:
        """These versions are committed: a full chunk not changed since is forgotten."""
        for row in rows:
            key = (row.seed, row.phase, row.chunk)
            chunk = self._chunks.get(key)
            if chunk is not None and len(chunk.rows) >= CHUNK_POINTS and key not in self._dirty:
                del self._chunks[key]

    def failed(self, rows: Iterable[ChunkRow]) -> None:
        """These were not committed: write them again next time."""
        self._dirty.update((row.seed, row.phase, row.chunk) for row in rows)

    def clear(self) -> None:
        self._chunks.clear()
        self._dirty.clear()

    @property
    def pending(self) -> bool:
        return bool(self._dirty)

    def reload(self, *, session: Session, experiment_id: int, upto_step: int) -> None:
        """Continue after a checkpoint at `upto_step`: the last stored chunk of each series that
        starts at or before it becomes the open chunk, holding its points with step ≤ upto_step.
        """
        last = (
            select(TraceChunk.seed, TraceChunk.phase, func.max(TraceChunk.chunk).label("chunk"))
            .where(TraceChunk.experiment_id == experiment_id, TraceChunk.first_step <= upto_step)
            .group_by(TraceChunk.seed, TraceChunk.phase)
            .subquery()
        )
        query = select(TraceChunk.seed, TraceChunk.phase, TraceChunk.chunk, TraceChunk.data).join(
            last,
            (TraceChunk.seed == last.c.seed)
            & (TraceChunk.phase == last.c.phase)
            & (TraceChunk.chunk == last.c.chunk),
        )
        self.clear()
        self._current.clear()
        for seed, phase, number, data in session.execute(
            query.where(TraceChunk.experiment_id == experiment_id)
        ):
            columns = tracecodec.decode(data)
            keep = columns["step"] <= upto_step
            names = [name for name in columns if name not in KEYS]
            rows = [
                (int(step), int(samples), {name: float(columns[name][i]) for name in names})
                for i, (step, samples) in enumerate(
                    zip(columns["step"], columns["samples"], strict=True)
                )
                if keep[i]
            ]
            self._chunks[(seed, phase, number)] = _Chunk(rows)
            self._current[(seed, phase)] = number


def upsert(experiment_id: int, *, session: Session, attempt: int, rows: Sequence[ChunkRow]) -> None:
    """Store whole chunks; a stored chunk with more points than the new version is kept (points
    are deterministic, so the longer one holds the shorter one)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(TraceChunk)
    statement = statement.on_conflict_do_update(
        index_elements=["experiment_id", "seed", "phase", "chunk"],
        set_={
            name: statement.excluded[name]
            for name in ("attempt", "first_step", "last_step", "points", "data")
        },
        where=TraceChunk.points <= statement.excluded.points,
    )
    session.execute(
        statement,
        [
            {
                "experiment_id": experiment_id,
                "attempt": attempt,
                "seed": row.seed,
                "phase": row.phase,
                "chunk": row.chunk,
                "first_step": row.first_step,
                "last_step": row.last_step,
                "points": row.points,
                "data": row.data,
            }
            for row in rows
        ],
    )


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


def remove(experiment_id: int, *, session: Session) -> None:
    session.execute(delete(TraceChunk).where(TraceChunk.experiment_id == experiment_id))


def merge_points(
    experiment_id: int, *, session: Session, attempt: int, rows: Iterable[Mapping[str, Any]]
) -> None:
    """Add loose points (dicts with seed, phase, step, samples and metrics): a point whose
    (seed, phase, step) is stored already is left as it is. Each touched series is read, merged
    and rechunked by step order; meant for fixtures, the migration and tools, not hot paths."""
    incoming: dict[tuple[int, str], dict[int, Mapping[str, Any]]] = {}
    for row in rows:
        series = incoming.setdefault((int(row["seed"]), str(row["phase"])), {})
        series.setdefault(int(row["step"]), row)
    for (seed, phase), points in incoming.items():
        merged: dict[int, tuple[int, int, dict[str, float]]] = {}
        for stored in read_series(
            session=session, experiment_ids=[experiment_id], seeds=[seed], phase=phase
        ):
            names = [name for name in stored.columns if name not in KEYS]
            for i, step in enumerate(stored.columns["step"].tolist()):
                values = {name: float(stored.columns[name][i]) for name in names}
                merged[step] = (step, int(stored.columns["samples"][i]), values)
        for step, row in points.items():
            if step not in merged:
                values = {k: _float(v) for k, v in row.items() if k not in _ROW_KEYS}
                merged[step] = (step, int(row["samples"]), values)
        ordered = [merged[step] for step in sorted(merged)]
        chunks = [
            _Chunk(ordered[start : start + CHUNK_POINTS]).encode(seed, phase, start // CHUNK_POINTS)
            for start in range(0, len(ordered), CHUNK_POINTS)
        ]
        upsert(experiment_id, session=session, attempt=attempt, rows=chunks)


_ROW_KEYS = frozenset(("seed", "phase", "step", "samples"))


def _float(value: float | None) -> float:
    """NaN for "not measured"; a non-finite number (inf) is stored as not measured too."""
    if value is None:
        return math.nan
    value = float(value)
    return value if math.isfinite(value) else math.nan


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
