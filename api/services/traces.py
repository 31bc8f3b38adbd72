"""An experiment's evaluation trace: decoded chunks (db.traces) to JSON, columnar JSON, CSV and
Arrow IPC, and downsampling, all on numpy columns: no model or ORM object per point.

The JSON forms are built whole (orjson, which writes NaN as null and numpy arrays natively);
CSV and Arrow stream chunk by chunk from a server-side cursor, so a 10^7-point trace is sent in
constant memory when it is not downsampled.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import orjson
import pyarrow as pa  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.schemas import TRACE_METRICS
from api.services.errors import Invalid
from db import traces
from db.models import TraceChunk
from db.traces import Series

ARROW_MEDIA_TYPE = "application/vnd.apache.arrow.stream"
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


def query_for(
    experiment_id: int,
    *,
    metrics: str | None = None,
    seeds: str | None = None,
    phase: str | None = None,
    step_min: int | None = None,
    step_max: int | None = None,
) -> TraceQuery:
    """`metrics` and `seeds` are comma-separated (default: all of them)."""
    chosen = comma_list(metrics, "metrics", str) or list(TRACE_METRICS)
    unknown = [name for name in chosen if name not in TRACE_METRICS]
    if unknown:
        raise Invalid.query(
            "metrics", f"unknown metrics {unknown}; known: {', '.join(TRACE_METRICS)}"
        )
    seed_list = comma_list(seeds, "seeds", int)
    if seed_list and any(abs(seed) > 2**63 - 1 for seed in seed_list):
        raise Invalid.query("seeds", "a number is out of the 64-bit range")
    return TraceQuery(
        experiment_id, list(dict.fromkeys(chosen)), seed_list, phase, step_min, step_max
    )


# ------------------------------------------------------------------------------- downsampling
def downsample(series: list[Series], metrics: Sequence[str], max_points: int) -> list[Series]:
    """At most about `max_points` points that keep the shape of every curve.

    Each series (one seed in one phase) is cut into buckets of consecutive points (equal counts,
    so log-spaced evaluations are thinned evenly on a log axis); a bucket keeps the points holding
    the minimum and the maximum of each chosen metric, and every series keeps its first and last
    point, so every seed's global extremes survive. The metrics' extremes often fall on the same
    points, so the bucket count is the largest (found by bisection) whose kept points fit the
    series' share of the budget. A series needs up to 2 + 2·len(metrics) points however small the
    budget, so the result can exceed `max_points` when it is smaller than that times the number
    of series. Each try is O(points) in numpy; the bisection makes it O(points · log budget).
    """
    total = sum(len(s) for s in series)
    if total <= max_points:
        return series
    budget = max(1, max_points // len(series))
    per_bucket = max(1, 2 * len(metrics))
    out = []
    for s in series:
        n = len(s)
        if n <= budget:
            out.append(s)
            continue
        low = max(1, (budget - 2) // per_bucket)  # fits even if no two extremes coincide
        high = max(low, (budget - 2) // 2)  # every bucket keeps at least one point
        keep = _bucket_extremes(s, metrics, low)
        while low < high:
            middle = (low + high + 1) // 2
            candidate = _bucket_extremes(s, metrics, middle)
            if len(candidate) <= budget:
                low, keep = middle, candidate
            else:
                high = middle - 1
        columns = {name: values[keep] for name, values in s.columns.items()}
        out.append(Series(s.experiment_id, s.seed, s.phase, columns))
    return out


def _bucket_extremes(s: Series, metrics: Sequence[str], buckets: int) -> np.ndarray:
    """Sorted indices of the first and last point and of each bucket's first minimum and first
    maximum of every metric (NaN: not measured, never an extreme). All metrics at once: a few
    reduceat passes over an (n, metrics) array, no Python loop over points or buckets."""
    n = len(s)
    starts = np.arange(buckets, dtype=np.int64) * n // buckets  # strictly increasing: buckets < n
    bucket = np.repeat(np.arange(buckets), np.diff(np.append(starts, n)))  # (n,) bucket of a point
    values = np.column_stack([s.columns[name] for name in metrics])  # (n, M)
    finite = ~np.isnan(values)
    position = np.broadcast_to(np.arange(n)[:, None], values.shape)  # (n, M)
    kept = [np.array([0, n - 1])]
    for fill, reduce in ((np.inf, np.minimum), (-np.inf, np.maximum)):
        filled = np.where(finite, values, fill)
        extreme = reduce.reduceat(filled, starts, axis=0)  # (buckets, M)
        hit = finite & (filled == extreme[bucket])  # (n, M)
        first = np.minimum.reduceat(np.where(hit, position, n), starts, axis=0)  # (buckets, M)
        kept.append(first[first < n])  # n: a bucket where the metric was never measured
    return np.unique(np.concatenate(kept))


# ---------------------------------------------------------------------------------- renderers
def points_json(query: TraceQuery, series: list[Series], total: int) -> bytes:
    """The point-per-object form (api.schemas.TracePublic), built straight from the columns."""
    points = []
    metrics = query.metrics
    for s in series:
        steps, samples = s.columns["step"].tolist(), s.columns["samples"].tolist()
        values = zip(*(s.columns[name].tolist() for name in metrics), strict=True)
        for step, done, row in zip(steps, samples, values, strict=True):
            points.append(
                {
                    "seed": s.seed,
                    "phase": s.phase,
                    "step": step,
                    "samples": done,
                    "values": dict(zip(metrics, row, strict=True)),
                }
            )
    return orjson.dumps(_envelope(query, series, total) | {"points": points})


def columns_json(query: TraceQuery, series: list[Series], total: int) -> bytes:
    """One object per series holding arrays (api.schemas.TraceColumnsPublic)."""
    body = [
        {
            "seed": s.seed,
            "phase": s.phase,
            "step": s.columns["step"],
            "samples": s.columns["samples"],
            "values": {name: s.columns[name] for name in query.metrics},
        }
        for s in series
    ]
    document = _envelope(query, series, total) | {"series": body}
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def _envelope(query: TraceQuery, series: list[Series], total: int) -> dict[str, object]:
    kept = sum(len(s) for s in series)
    return {
        "experiment_id": query.experiment_id,
        "metrics": query.metrics,
        "total_points": total,
        "downsampled": kept < total,
    }


def csv_lines(metrics: Sequence[str], parts: Iterator[Series]) -> Iterator[bytes]:
    """A header, then the rows of each chunk (floats as repr, not measured as empty)."""
    yield (",".join(["seed", "phase", "step", "samples", *metrics]) + "\n").encode()
    for s in parts:
        lead = f"{s.seed},{s.phase},"
        columns: list[Iterable[str]] = [
            map(str, s.columns["step"].tolist()),
            map(str, s.columns["samples"].tolist()),
        ]
        for name in metrics:
            columns.append("" if math.isnan(v) else repr(v) for v in s.columns[name].tolist())
        yield "".join(lead + ",".join(row) + "\n" for row in zip(*columns, strict=True)).encode()


def arrow_stream(metrics: Sequence[str], parts: Iterator[Series]) -> Iterator[bytes]:
    """An Arrow IPC stream: the schema, then one record batch per chunk (NaN as null)."""
    fields = [("seed", pa.int64()), ("phase", pa.string()), ("step", pa.int64())]
    fields += [("samples", pa.int64()), *((name, pa.float64()) for name in metrics)]
    schema = pa.schema(fields)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, schema) as writer:
        for s in parts:
            n = len(s)
            arrays = [
                pa.array(np.full(n, s.seed, dtype=np.int64)),
                pa.array([s.phase] * n, type=pa.string()),
                pa.array(s.columns["step"]),
                pa.array(s.columns["samples"]),
            ]
            for name in metrics:
                values = s.columns[name]
                arrays.append(pa.array(values, mask=np.isnan(values)))
            writer.write_batch(pa.record_batch(arrays, schema=schema))
            yield _drain(sink)
    yield _drain(sink)


def _drain(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return data


def streamed(
    make_session: sessionmaker[Session], query: TraceQuery, render: str
) -> Iterator[bytes]:
    """CSV or Arrow rows of every matching point, read in its own session: the response is sent
    after the route returned, and its cursor must live as long as the stream."""
    with make_session() as session:
        parts = query.read(session)
        yield from (csv_lines if render == "csv" else arrow_stream)(query.metrics, parts)


def whole(render: str, metrics: Sequence[str], series: list[Series]) -> Iterator[bytes]:
    """CSV or Arrow of series already in memory (the downsampled case)."""
    return (csv_lines if render == "csv" else arrow_stream)(metrics, iter(series))
