"""Trace points as a running attempt writes them (the storage itself is db.traces')."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from db import traces


def trace_rows(
    *,
    phase: str,
    step: int,
    samples: int,
    seeds: Sequence[int],
    metrics: Mapping[str, Sequence[float | None]],
) -> list[dict[str, Any]]:
    """One evaluation point of the trainer (per-seed metric lists, like
    trainer.results.EvalPoint) as rows for `write_trace`, one per seed. Pure dict work."""
    rows = []
    for index, seed in enumerate(seeds):
        row: dict[str, Any] = {"seed": seed, "phase": phase, "step": step, "samples": samples}
        for name, values in metrics.items():
            row[name] = values[index]
        rows.append(row)
    return rows


def write_trace(
    experiment_id: int,
    *,
    session: Session,
    attempt: int,
    rows: Iterable[Mapping[str, Any]],
) -> None:
    """Add loose trace points (rows of seed, phase, step, samples and metrics, e.g. from
    `trace_rows`); a point already stored (same experiment, seed, phase, step) is left as it is,
    so a repeated batch adds no duplicates. Non-finite numbers are stored as "not measured".
    Read-modify-write of the touched chunks (db.traces.merge_points); the worker keeps its open
    chunks in memory instead (db.traces.OpenChunks)."""
    traces.merge_points(experiment_id, session=session, attempt=attempt, rows=rows)
