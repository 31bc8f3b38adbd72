"""An experiment's evaluation trace: the chosen metrics per seed, downsampled to a budget that
keeps every curve's shape and extremes (api.crud.downsample), as rows or as CSV text."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session

from api import crud
from api.schemas import TRACE_METRICS
from api.services.errors import Invalid
from db.models import Experiment

V = TypeVar("V")


@dataclass(frozen=True)
class Trace:
    experiment_id: int
    metrics: list[str]
    total_points: int  # before downsampling
    points: list[crud.TraceRow]

    @property
    def downsampled(self) -> bool:
        return len(self.points) < self.total_points


def comma_list(text: str | None, where: str, cast: Callable[[str], V]) -> list[V] | None:
    """'a, b,c' → [cast(a), cast(b), cast(c)]; None for no text; Invalid naming query `where`."""
    if text is None or not text.strip():
        return None
    try:
        return [cast(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise Invalid.query(where, f"expected a comma-separated list, got {text!r}") from None


def trace(
    experiment: Experiment,
    *,
    session: Session,
    metrics: str | None = None,
    seeds: str | None = None,
    phase: str | None = None,
    step_min: int | None = None,
    step_max: int | None = None,
    max_points: int = 500,
) -> Trace:
    """`metrics` and `seeds` are comma-separated (default: all of them)."""
    chosen = comma_list(metrics, "metrics", str) or list(TRACE_METRICS)
    unknown = [name for name in chosen if name not in TRACE_METRICS]
    if unknown:
        raise Invalid.query(
            "metrics", f"unknown metrics {unknown}; known: {', '.join(TRACE_METRICS)}"
        )
    chosen = list(dict.fromkeys(chosen))
    seed_list = comma_list(seeds, "seeds", int)
    if seed_list and any(abs(seed) > 2**63 - 1 for seed in seed_list):
        raise Invalid.query("seeds", "a number is out of the 64-bit range")
    rows = crud.trace_rows(
        session=session,
        experiment_id=experiment.id,
        metrics=chosen,
        seeds=seed_list,
        phase=phase,
        step_min=step_min,
        step_max=step_max,
    )
    return Trace(experiment.id, chosen, len(rows), crud.downsample(rows, chosen, max_points))


def to_csv(trace: Trace) -> str:
    """A header row (seed, phase, step, samples, the metrics), then a row per point; a missing
    value is empty, a number is written exactly (repr)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["seed", "phase", "step", "samples", *trace.metrics])
    for row in trace.points:
        values: Sequence[float | None] = [row.values[m] for m in trace.metrics]
        writer.writerow(
            [
                row.seed,
                row.phase,
                row.step,
                row.samples,
                *("" if v is None else repr(v) for v in values),
            ]
        )
    return out.getvalue()
