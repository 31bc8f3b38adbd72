"""/experiments/{id}/trace: an experiment's evaluation trace as JSON, columnar JSON, CSV or Arrow.
The work is api.services.traces', trace_downsample's and trace_formats'."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from api.deps import ExperimentDep, SessionDep
from api.query import TraceFilter
from api.responses import INVALID, NOT_FOUND
from api.schemas import TracePublic
from api.services import trace_formats, traces
from api.services.trace_downsample import downsample

router = APIRouter(prefix="/experiments", tags=["experiments"])
MEDIA = {"csv": "text/csv", "arrow": trace_formats.ARROW_MEDIA_TYPE}
SUFFIX = {"csv": "csv", "arrow": "arrows"}
STREAMS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            trace_formats.ARROW_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        }
    }
}


@router.get(
    "/{experiment_id}/trace",
    response_model=TracePublic,
    summary="The evaluation trace, optionally downsampled",
    description="Points of the chosen metrics per seed, ordered by seed, phase, step. Above "
    "`max_points`, each seed's curve is cut into buckets of consecutive steps and each bucket "
    "keeps the points holding the minimum and the maximum of every chosen metric (plus the first "
    "and last point), so the shape and the extremes survive. `format=json`: one object per point "
    "(TracePublic); `columns`: one object per seed and phase holding arrays (the fast form for "
    "scripts); `csv`: text/csv with a header row; `arrow`: an Arrow IPC stream "
    "(`pyarrow.ipc.open_stream`, `polars.read_ipc_stream`). `json`, CSV and Arrow stream chunk "
    "by chunk in constant memory when nothing is downsampled (`max_points` ≥ the trace's "
    "length).",
    responses={**NOT_FOUND, **INVALID, **STREAMS},
)
def trace(
    experiment: ExperimentDep,
    session: SessionDep,
    request: Request,
    filters: Annotated[TraceFilter, Query()],
    max_points: Annotated[int, Query(ge=2, le=2**40)] = 500,
    format: Literal["json", "columns", "csv", "arrow"] = "json",
) -> Any:
    query = traces.query_for(experiment.id, filters)
    if format in MEDIA:
        filename = f"experiment-{experiment.id}-trace.{SUFFIX[format]}"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        if query.at_most(session) <= max_points:
            session.rollback()  # the stream reads in its own session
            body = trace_formats.streamed(request.app.state.sessionmaker, query, format)
        else:
            kept = downsample(query.series(session), query.metrics, max_points)
            body = trace_formats.whole(format, query.metrics, kept)
        return StreamingResponse(body, media_type=MEDIA[format], headers=headers)
    if format == "json" and query.at_most(session) <= max_points:
        session.rollback()  # the stream reads in its own session
        body = trace_formats.streamed(request.app.state.sessionmaker, query, "json")
        return StreamingResponse(body, media_type="application/json")
    series = query.series(session)
    total = sum(len(s) for s in series)
    kept = downsample(series, query.metrics, max_points)
    render = trace_formats.points_json if format == "json" else trace_formats.columns_json
    return Response(render(query, kept, total), media_type="application/json")
