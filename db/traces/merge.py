"""Loose points (fixtures, the migration, tools) merged into the store by read-modify-write."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from db.traces.chunks import CHUNK_POINTS, KEYS, Chunk, stored_value
from db.traces.reader import read_series
from db.traces.writer import upsert


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
                values = {k: stored_value(v) for k, v in row.items() if k not in _ROW_KEYS}
                merged[step] = (step, int(row["samples"]), values)
        ordered = [merged[step] for step in sorted(merged)]
        chunks = [
            Chunk(ordered[start : start + CHUNK_POINTS]).encode(seed, phase, start // CHUNK_POINTS)
            for start in range(0, len(ordered), CHUNK_POINTS)
        ]
        upsert(experiment_id, session=session, attempt=attempt, rows=chunks)


_ROW_KEYS = frozenset(("seed", "phase", "step", "samples"))
