"""/sweeps: submit (idempotent), list, show, experiments, cancel, aggregate (JSON/CSV), aggregated
trace, scaling fit, heatmap and scaling plots."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from sqlalchemy import select

from api import accounts, plots, sweeps
from api.aggregate import aggregate_trace, scaling_fit, to_csv
from api.deps import CurrentUser, OwnedSweepDep, SessionDep, SettingsDep, SweepDep, may_see
from api.expand import ExpansionError, canonical, expand, sweep_hash
from api.routes.experiments import check_queued_limit, dispatch_now
from api.schemas import (
    TRACE_METRICS,
    ErrorPublic,
    ExperimentPublic,
    ExperimentsPublic,
    Responses,
    ScalingPublic,
    SweepCellsPublic,
    SweepCreate,
    SweepPublic,
    SweepsPublic,
    ValidationErrorPublic,
)
from db.models import Experiment, Sweep

router = APIRouter(prefix="/sweeps", tags=["sweeps"])

NOT_FOUND: Responses = {404: {"model": ErrorPublic, "description": "no sweep with this id"}}
INVALID: Responses = {422: {"model": ValidationErrorPublic, "description": "invalid input"}}
CSV: Responses = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
IMAGE: Responses = {200: {"content": {"image/png": {}, "image/svg+xml": {}}}}
Fmt = Literal["png", "svg"]


def _invalid(where: str, msg: str, part: str = "query") -> RequestValidationError:
    return RequestValidationError([{"loc": (part, where), "msg": msg, "type": "value_error"}])


def _public(
    session: SessionDep, sweep: Sweep, counts: dict[int, dict[str, Any]] | None = None
) -> SweepPublic:
    counts = counts or sweeps.progress(session=session, sweep_ids=[sweep.id])
    entry = counts[sweep.id]
    return SweepPublic(
        id=sweep.id,
        name=sweep.name,
        owner=sweep.owner,
        sweep_hash=sweep.sweep_hash,
        status=sweeps.status_of(sweep, entry["progress"]),
        axes=sweep.axes,
        cells=sweep.cells,
        experiments_total=sweep.experiments_total,
        progress=entry["progress"],
        samples_done=entry["samples_done"],
        samples_total=entry["samples_total"],
        cancel_requested=sweep.cancel_requested,
        definition=sweep.definition,
        created_at=sweep.created_at,
        updated_at=sweep.updated_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SweepPublic,
    summary="Submit a sweep",
    description="Expands the base spec over the axes into experiments (Cartesian product in "
    "axis order, zip groups together; each cell's seeds split over experiments when "
    "`seeds_per_experiment` is set), validates every one (422 naming the cell; nothing stored "
    "then), stores them as queued and sends them to the broker. Resubmitting the same definition "
    "(same base, axes and seeds: same `sweep_hash`) creates nothing and returns the existing "
    "sweep with 200.",
    responses={**INVALID, 200: {"model": SweepPublic, "description": "already submitted"}},
)
def submit(
    body: SweepCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    response: Response,
) -> SweepPublic:
    definition = body.model_dump(mode="json", exclude_none=True)
    digest = sweep_hash(definition)
    existing = sweeps.find(session=session, owner=user.name, sweep_hash=digest)
    if existing is None:
        try:
            planned = expand(definition)
        except ExpansionError as error:
            raise RequestValidationError(
                [{"loc": error.loc, "msg": str(error), "type": "value_error"}]
            ) from None
        # The whole grid counts against the owner's queued limit (429 over it).
        check_queued_limit(user, settings, session, adding=len(planned))
        existing, created = sweeps.create(
            session=session,
            definition=definition,
            sweep_hash=digest,
            planned=planned,
            owner=user.name,
            name=body.name,
            tags=body.tags,
            priority=body.priority,
            max_attempts=body.max_attempts,
        )
        session.commit()
        if created:
            accounts.audit(
                "submit_sweep",
                session=session,
                actor=user.name,
                detail={"sweep_id": existing.id, "experiments": len(planned)},
            )
            session.commit()
            dispatch_now(request)  # the fair dispatcher: free slots only, users take turns
        else:
            response.status_code = status.HTTP_200_OK
    else:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/sweeps/{existing.id}"
    return _public(session, existing)


@router.get(
    "",
    response_model=SweepsPublic,
    summary="List sweeps (newest first)",
    description="Keyset pages: pass `next_cursor` back as `cursor`.",
)
def list_sweeps(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    name: Annotated[str | None, Query(max_length=200, description="substring")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,19}$")] = None,
) -> SweepsPublic:
    size = min(limit or settings.default_page_size, settings.max_page_size)
    if not may_see(user, owner or "", settings):  # own-only visibility: a member's own sweeps
        if owner is not None:
            return SweepsPublic(items=[], next_cursor=None)
        owner = user.name
    query = select(Sweep).order_by(Sweep.id.desc())
    if owner is not None:
        query = query.where(Sweep.owner == owner)
    if name:
        query = query.where(Sweep.name.icontains(name, autoescape=True))
    if cursor:
        query = query.where(Sweep.id < int(cursor))
    rows = list(session.scalars(query.limit(size + 1)))
    page = rows[:size]
    counts = sweeps.progress(session=session, sweep_ids=[s.id for s in page])
    return SweepsPublic(
        items=[_public(session, s, counts) for s in page],
        next_cursor=str(page[-1].id) if len(rows) > size else None,
    )


@router.get(
    "/{sweep_id}",
    response_model=SweepPublic,
    summary="Show a sweep and its progress",
    responses=NOT_FOUND,
)
def show(sweep: SweepDep, session: SessionDep) -> SweepPublic:
    return _public(session, sweep)


@router.get(
    "/{sweep_id}/experiments",
    response_model=ExperimentsPublic,
    summary="The sweep's experiments, in expansion order",
    responses=NOT_FOUND,
)
def list_experiments(
    sweep: SweepDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 5000,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,19}$")] = None,
) -> ExperimentsPublic:
    query = select(Experiment).where(Experiment.sweep_id == sweep.id).order_by(Experiment.id)
    if cursor:
        query = query.where(Experiment.id > int(cursor))
    rows = list(session.scalars(query.limit(limit + 1)))
    page = rows[:limit]
    return ExperimentsPublic(
        items=[ExperimentPublic.model_validate(e) for e in page],
        next_cursor=str(page[-1].id) if len(rows) > limit else None,
    )


@router.post(
    "/{sweep_id}/cancel",
    response_model=SweepPublic,
    summary="Cancel a whole sweep",
    description="Queued experiments are cancelled at once, running ones at their next "
    "heartbeat; finished ones keep their results. Cancelling twice is harmless.",
    responses={**NOT_FOUND, 403: {"description": "only the owner or an admin may"}},
)
def cancel(sweep: OwnedSweepDep, session: SessionDep, user: CurrentUser) -> SweepPublic:
    sweeps.cancel(session=session, sweep=sweep)
    accounts.audit(
        "cancel_sweep",
        session=session,
        actor=user.name,
        detail={"sweep_id": sweep.id, "owner": sweep.owner},
    )
    session.commit()
    return _public(session, sweep)


# -------------------------------------------------------------------------------- aggregation
def _fields(text: str | None) -> list[str]:
    if not text:
        return list(sweeps.SEED_FIELDS)
    chosen = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in chosen if name not in sweeps.SEED_FIELDS]
    if unknown:
        raise _invalid(
            "fields", f"unknown fields {unknown}; known: {', '.join(sweeps.SEED_FIELDS)}"
        )
    return chosen


def _where(sweep: Sweep, where: list[str] | None) -> dict[str, str]:
    """`path=value` filters on axis values (value compared as text or canonical JSON)."""
    out = {}
    for item in where or []:
        path, sep, value = item.partition("=")
        if not sep or path not in sweep.axes:
            raise _invalid(
                "where", f"expected AXIS=VALUE with AXIS one of {sweep.axes}, got {item!r}"
            )
        out[path] = value
    return out


def _matches(cell: dict[str, Any], where: dict[str, str]) -> bool:
    for path, wanted in where.items():
        value = cell.get(path)
        if wanted not in (str(value), canonical(value)):
            return False
    return True


def _cells(
    sweep: Sweep, session: SessionDep, fields: list[str], where: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    members = sweeps.experiments(session=session, sweep_id=sweep.id)
    cells = sweeps.cell_summaries(sweep, members, fields)
    return [c for c in cells if _matches(c, where or {})]


@router.get(
    "/{sweep_id}/aggregate",
    response_model=SweepCellsPublic,
    summary="Per-cell statistics over seeds",
    description="For each cell: mean, std, 95% t-interval of the mean, n and n_missing of each "
    "per-seed result, over every seed of every experiment of the cell (experiments that differ "
    "only in seed are pooled). Seeds come from finished experiments' `result.seeds`. "
    "`recovered` is 1 for a seed that reached weak recovery, else 0 (its mean is the fraction). "
    "`format=csv`: one row per cell, columns `<field>.<mean|std|ci95_low|ci95_high|n|n_missing>`.",
    responses={**NOT_FOUND, **INVALID, **CSV},
)
def aggregate(
    sweep: SweepDep,
    session: SessionDep,
    fields: Annotated[str | None, Query(description="comma-separated; default all")] = None,
    where: Annotated[list[str] | None, Query(description="AXIS=VALUE, repeatable")] = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    chosen = _fields(fields)
    cells = _cells(sweep, session, chosen, _where(sweep, where))
    if format == "csv":
        return PlainTextResponse(
            to_csv(cells, sweeps.csv_columns(sweep, chosen)),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="sweep-{sweep.id}-aggregate.csv"'
            },
        )
    return SweepCellsPublic(sweep_id=sweep.id, axes=sweep.axes, fields=chosen, cells=cells)


TRACE_CSV = (
    "phase",
    "step",
    "samples",
    "mean",
    "std",
    "ci95_low",
    "ci95_high",
    "n",
    "n_missing",
    "median",
)


@router.get(
    "/{sweep_id}/aggregate/trace",
    summary="A metric's trace per cell, summarized over seeds at each evaluation point",
    description="Per cell: for each (phase, step), mean, std, 95% interval, n and median of "
    "`metric` over all seeds of the cell's experiments (api.aggregate.aggregate_trace). "
    "`format=csv`: one row per cell and point, the axis values first.",
    responses={**NOT_FOUND, **INVALID, **CSV},
)
def aggregate_trace_route(
    sweep: SweepDep,
    session: SessionDep,
    metric: Annotated[
        str, Query(description=f"one of {', '.join(TRACE_METRICS)}")
    ] = "median_abs_m",
    where: Annotated[list[str] | None, Query(description="AXIS=VALUE, repeatable")] = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    if metric not in TRACE_METRICS:
        raise _invalid("metric", f"unknown metric {metric!r}; known: {', '.join(TRACE_METRICS)}")
    cells = _cells(sweep, session, [], _where(sweep, where))
    ids = [i for cell in cells for i in cell["experiment_ids"]]
    points = sweeps.trace_points(session=session, experiment_ids=ids, metrics=[metric])
    by_experiment: dict[int, list[dict[str, Any]]] = {}
    for point in points:
        by_experiment.setdefault(point["experiment_id"], []).append(point)
    out = []
    for cell in cells:
        members = [p for i in cell["experiment_ids"] for p in by_experiment.get(i, [])]
        values = {path: cell[path] for path in sweep.axes}
        out.append(
            {**values, "cell_key": cell["cell_key"], "points": aggregate_trace(members, metric)}
        )
    if format == "csv":
        rows = [{**{path: c[path] for path in sweep.axes}, **p} for c in out for p in c["points"]]
        return PlainTextResponse(
            to_csv(rows, [*sweep.axes, *TRACE_CSV]),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="sweep-{sweep.id}-trace-{metric}.csv"'
            },
        )
    return {"sweep_id": sweep.id, "axes": sweep.axes, "metric": metric, "cells": out}


def _scaling(
    sweep: Sweep, session: SessionDep, x: str, metric: str, threshold: float | None
) -> ScalingPublic:
    if x not in sweep.axes:
        raise _invalid("x", f"{x!r} is not an axis of this sweep ({sweep.axes})")
    if metric not in TRACE_METRICS:
        raise _invalid("metric", f"unknown metric {metric!r}")
    members = [
        e
        for e in sweeps.experiments(session=session, sweep_id=sweep.id)
        if e.status in ("completed", "diverged")
    ]
    crossing: dict[tuple[int, int], float | None] = {}
    if threshold is not None:
        points = sweeps.trace_points(
            session=session, experiment_ids=[e.id for e in members], metrics=[metric]
        )
        crossing = sweeps.first_crossing(points, metric, threshold)
    others = [path for path in sweep.axes if path != x]
    groups: dict[str, dict[str, Any]] = {}
    for experiment in members:
        values = json.loads(experiment.cell_key or "{}")
        xv = sweeps.numeric(values.get(x))
        if xv is None:
            raise _invalid("x", f"axis {x!r} has a non-numeric value {values.get(x)!r}")
        key = {path: values.get(path) for path in others}
        group = groups.setdefault(canonical(key), {"key": key, "d": [], "samples": []})
        for seed in (experiment.result or {}).get("seeds") or []:
            if threshold is None:
                samples = sweeps.to_float(seed.get("weak_recovery_samples"))
            else:
                samples = crossing.get((experiment.id, seed.get("seed")))
            group["d"].append(xv)
            group["samples"].append(samples)
    out = [{"key": g["key"], "fit": scaling_fit(g["d"], g["samples"])} for g in groups.values()]
    return ScalingPublic(sweep_id=sweep.id, x=x, metric=metric, threshold=threshold, groups=out)


THRESHOLD = Query(
    gt=0.0,
    lt=1.0,
    description="weak recovery = first Phase I point with `metric` "
    "≥ this (from the trace); omitted: each run's own weak_recovery_samples",
)


@router.get(
    "/{sweep_id}/scaling",
    response_model=ScalingPublic,
    summary="Samples to weak recovery against d, fitted on log-log axes",
    description="One fit per combination of the other axes: log(samples) = a + b·log(d) by least "
    "squares over seeds, with b's 95% t-interval (api.aggregate.scaling_fit). Seeds that never "
    "reached the threshold are left out of the fit and counted in `n_missing`.",
    responses={**NOT_FOUND, **INVALID},
)
def scaling(
    sweep: SweepDep,
    session: SessionDep,
    threshold: Annotated[float | None, THRESHOLD] = None,
    metric: Annotated[str, Query()] = "median_abs_m",
    x: Annotated[str, Query(description="the dimension axis")] = "d",
) -> ScalingPublic:
    return _scaling(sweep, session, x, metric, threshold)


# -------------------------------------------------------------------------------------- plots
def _image(data: bytes, fmt: str) -> Response:
    return Response(data, media_type=plots.MEDIA_TYPES[fmt], headers={"Cache-Control": "no-cache"})


@router.get(
    "/{sweep_id}/heatmap.{fmt}",
    summary="Heatmap of an aggregated result over two axes (like the paper's Figure 1)",
    description="Colour = `stat` (default mean over seeds) of `value` per cell. Other axes must "
    "be pinned with `where=AXIS=VALUE` when they vary.",
    response_class=Response,
    responses={**NOT_FOUND, **INVALID, **IMAGE},
)
def heatmap(
    sweep: SweepDep,
    session: SessionDep,
    fmt: Fmt,
    x: Annotated[str, Query()] = "d",
    y: Annotated[str, Query()] = "phase1.n",
    value: Annotated[str, Query(description="a per-seed field")] = "test_mse",
    stat: Literal["mean", "std", "ci95_low", "ci95_high", "n"] = "mean",
    where: Annotated[list[str] | None, Query(description="AXIS=VALUE, repeatable")] = None,
    annotate: bool = True,
    log_color: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    title: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    for name, path in (("x", x), ("y", y)):
        if path not in sweep.axes:
            raise _invalid(name, f"{path!r} is not an axis of this sweep ({sweep.axes})")
    fields = _fields(value)
    cells = _cells(sweep, session, fields, _where(sweep, where))
    seen: set[tuple[str, str]] = set()
    for cell in cells:
        spot = (canonical(cell[x]), canonical(cell[y]))
        if spot in seen:
            raise _invalid(
                "where",
                f"several cells share {x}={cell[x]!r}, {y}={cell[y]!r}: pin "
                "the other axes with where=AXIS=VALUE",
            )
        seen.add(spot)
    cmap = (
        "viridis_r"
        if value in ("test_mse", "weak_recovery_samples", "weak_recovery_step")
        else "viridis"
    )
    data = plots.heatmap(
        cells,
        x,
        y,
        f"{value}.{stat}",
        title=title or f"{sweep.name or f'sweep {sweep.id}'}: {value} ({stat} over seeds)",
        colorbar_label=f"{value} ({stat})",
        annotate=annotate,
        log_color=log_color,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        fmt=fmt,
    )
    return _image(data, fmt)


@router.get(
    "/{sweep_id}/scaling.{fmt}",
    summary="Scaling plot: samples to weak recovery against d with the fitted exponent",
    description="One group of the scaling fit (see /scaling): `group` is its index, or pin it "
    "with where=AXIS=VALUE.",
    response_class=Response,
    responses={**NOT_FOUND, **INVALID, **IMAGE},
)
def scaling_image(
    sweep: SweepDep,
    session: SessionDep,
    fmt: Fmt,
    threshold: Annotated[float | None, THRESHOLD] = None,
    metric: Annotated[str, Query()] = "median_abs_m",
    x: Annotated[str, Query()] = "d",
    group: Annotated[int, Query(ge=0)] = 0,
    where: Annotated[list[str] | None, Query(description="AXIS=VALUE, repeatable")] = None,
    information_exponent: Annotated[int | None, Query(ge=1, le=32)] = None,
    title: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    result = _scaling(sweep, session, x, metric, threshold)
    pinned = _where(sweep, where)
    groups = [g for g in result.groups if _matches(g["key"], pinned)]
    if group >= len(groups):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no scaling group {group} (there are {len(groups)})"
        )
    chosen = groups[group]
    label = ", ".join(f"{k}={v}" for k, v in chosen["key"].items())
    data = plots.scaling_plot(
        chosen["fit"],
        information_exponent=information_exponent,
        title=title or f"{sweep.name or f'sweep {sweep.id}'}" + (f": {label}" if label else ""),
        fmt=fmt,
    )
    return _image(data, fmt)
