"""A trace's points written out: JSON, columnar JSON, CSV and Arrow IPC, from numpy columns.

JSON is written by orjson (NaN as null, numpy arrays natively). CSV, Arrow and the
point-per-object JSON stream chunk by chunk from a server-side cursor, so a 10^7-point trace is
sent in constant memory when it is not downsampled; the columnar JSON (one array per column of a
whole series) and anything downsampled are built whole.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import orjson
import pyarrow as pa  # type: ignore[import-untyped]
from sqlalchemy.orm import Session, sessionmaker

from api.services.traces import TraceQuery
from db.traces import Series

ARROW_MEDIA_TYPE = "application/vnd.apache.arrow.stream"


def points_json(query: TraceQuery, series: list[Series], total: int) -> bytes:
    """The point-per-object form (api.schemas.TracePublic), built straight from the columns."""
    return orjson.dumps(
        _envelope(query, series, total) | {"points": _points(query.metrics, series)}
    )


def points_json_stream(query: TraceQuery, parts: Iterator[Series]) -> Iterator[bytes]:
    """points_json of every matching point (nothing downsampled), chunk by chunk: the same
    document with `total_points` and `downsampled` after the points, which are counted as they
    go. A 10^7-point trace built whole was ~10^7 dicts in the API process."""
    head = orjson.dumps({"experiment_id": query.experiment_id, "metrics": query.metrics})
    yield head[:-1] + b',"points":['
    total = 0
    for s in parts:
        body = orjson.dumps(_points(query.metrics, [s]))[1:-1]
        yield body if total == 0 else b"," + body
        total += len(s)
    yield b'],"total_points":' + str(total).encode() + b',"downsampled":false}'


def _points(metrics: Sequence[str], series: Iterable[Series]) -> list[dict[str, object]]:
    points = []
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
    return points


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
    """CSV, Arrow or point-per-object JSON of every matching point, read in its own session: the
    response is sent after the route returned, and its cursor must live as long as the stream."""
    with make_session() as session:
        parts = query.read(session)
        if render == "json":
            yield from points_json_stream(query, parts)
        else:
            yield from (csv_lines if render == "csv" else arrow_stream)(query.metrics, parts)


def whole(render: str, metrics: Sequence[str], series: list[Series]) -> Iterator[bytes]:
    """CSV or Arrow of series already in memory (the downsampled case)."""
    return (csv_lines if render == "csv" else arrow_stream)(metrics, iter(series))
