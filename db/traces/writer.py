"""The writer side (the worker): the chunks an attempt has open, stored whole by `upsert`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db import tracecodec
from db.models import TraceChunk
from db.traces.chunks import CHUNK_POINTS, KEYS, Chunk, ChunkRow, stored_value


class OpenChunks:
    """The chunks of one attempt not yet known to be stored in full. Not thread-safe: the worker
    guards it with its buffer lock."""

    def __init__(self) -> None:
        self._chunks: dict[tuple[int, str, int], Chunk] = {}
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
            values = {name: stored_value(column[index]) for name, column in metrics.items()}
            number = self._current.get((seed, phase), 0)
            chunk = self._chunks.setdefault((seed, phase, number), Chunk())
            if len(chunk.rows) >= CHUNK_POINTS:
                number += 1
                chunk = self._chunks.setdefault((seed, phase, number), Chunk())
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
            self._chunks[(seed, phase, number)] = Chunk(rows)
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


def remove(experiment_id: int, *, session: Session) -> None:
    session.execute(delete(TraceChunk).where(TraceChunk.experiment_id == experiment_id))
