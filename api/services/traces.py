"""Which points of an experiment's trace a request asks for: TraceQuery, parsed from the query
string and read from db.traces as numpy columns (no model or ORM object per point).
api.services.trace_downsample thins them, api.services.trace_formats writes them out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.query import TraceFilter
from api.schemas import TRACE_METRICS
from api.services.errors import Invalid
from db import traces
from db.models import TraceChunk
from db.traces import Series

V = TypeVar("V")


@dataclass
class TraceQuery:
    experiment_id: int
    metrics: list[str]
    seeds: list[int] | None = None
    phase: str | None = None
    step_min: int | None = None
    step_max: int | None = None

    def read(self, session: Session) -> Iterator[Series]:
        return traces.read(session=session, experiment_ids=[self.experiment_id], **self._filters())

    def series(self, session: Session) -> list[Series]:
        return traces.read_series(
            session=session, experiment_ids=[self.experiment_id], **self._filters()
        )

    def at_most(self, session: Session) -> int:
        """An upper bound of the matching points from the chunk headers (nothing decoded)."""
        query = select(func.coalesce(func.sum(TraceChunk.points), 0)).where(
            TraceChunk.experiment_id == self.experiment_id
        )
        if self.seeds:
            query = query.where(TraceChunk.seed.in_(self.seeds))
        if self.phase is not None:
            query = query.where(TraceChunk.phase == self.phase)
        if self.step_min is not None:
            query = query.where(TraceChunk.last_step >= self.step_min)
        if self.step_max is not None:
            query = query.where(TraceChunk.first_step <= self.step_max)
        return int(session.scalar(query) or 0)

    def _filters(self) -> dict[str, Any]:
        return {
            "names": self.metrics,
            "seeds": self.seeds,
            "phase": self.phase,
            "step_min": self.step_min,
            "step_max": self.step_max,
        }


def comma_list(text: str | None, where: str, cast: Callable[[str], V]) -> list[V] | None:
    """'a, b,c' → [cast(a), cast(b), cast(c)]; None for no text; Invalid naming query `where`."""
    if text is None or not text.strip():
        return None
    try:
        return [cast(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise Invalid.query(where, f"expected a comma-separated list, got {text!r}") from None


def query_for(experiment_id: int, filters: TraceFilter | None = None) -> TraceQuery:
    """`metrics` and `seeds` are comma-separated (default: all of them)."""
    filters = filters or TraceFilter()
    chosen = comma_list(filters.metrics, "metrics", str) or list(TRACE_METRICS)
    unknown = [name for name in chosen if name not in TRACE_METRICS]
    if unknown:
        raise Invalid.query(
            "metrics", f"unknown metrics {unknown}; known: {', '.join(TRACE_METRICS)}"
        )
    seed_list = comma_list(filters.seeds, "seeds", int)
    if seed_list and any(abs(seed) > 2**63 - 1 for seed in seed_list):
        raise Invalid.query("seeds", "a number is out of the 64-bit range")
    return TraceQuery(
        experiment_id,
        list(dict.fromkeys(chosen)),
        seed_list,
        filters.phase,
        filters.step_min,
        filters.step_max,
    )
