"""Loose trace points into the chunk store, for fixtures (db.traces.merge_points)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from db import traces


def add_points(session: Session, points: Iterable[Mapping[str, Any]]) -> None:
    """Points as dicts with experiment_id, attempt, seed, phase, step, samples and metrics."""
    by_experiment: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for point in points:
        row = dict(point)
        key = (int(row.pop("experiment_id")), int(row.pop("attempt", 1)))
        by_experiment.setdefault(key, []).append(row)
    for (experiment_id, attempt), rows in by_experiment.items():
        traces.merge_points(experiment_id, session=session, attempt=attempt, rows=rows)
