"""A sweep's results, summarized over seeds: per-cell statistics, per-cell traces and the scaling
fit of samples to weak recovery against d. Filters pin axis values (`AXIS=VALUE`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from api import sweep_cells, sweeps
from api.aggregate import aggregate_trace
from api.csv_export import to_csv
from api.scaling_fit import scaling_fit
from api.schemas import TRACE_METRICS
from api.services.errors import Invalid
from db.models import FINISHED_WITH_RESULT, Sweep
from trainer.canonical import canonical_json
from trainer.spec import Unstated

TRACE_CSV = [
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
]


def seed_fields(text: str | None) -> list[str]:
    """Comma-separated per-seed fields (default: all of sweep_cells.SEED_FIELDS); Invalid names
    the unknown ones."""
    if not text:
        return list(sweep_cells.SEED_FIELDS)
    chosen = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in chosen if name not in sweep_cells.SEED_FIELDS]
    if unknown:
        known = ", ".join(sweep_cells.SEED_FIELDS)
        raise Invalid.query("fields", f"unknown fields {unknown}; known: {known}")
    return chosen


def pinned(sweep: Sweep, where: list[str] | None) -> dict[str, str]:
    """`path=value` filters on axis values (value compared as text or canonical JSON)."""
    out = {}
    for item in where or []:
        path, sep, value = item.partition("=")
        if not sep or path not in sweep.axes:
            raise Invalid.query(
                "where",
                f"expected AXIS=VALUE with AXIS one of {sweep.axes}, got {item!r}",
                Unstated.resource if sep else "value_error",
            )
        out[path] = value
    return out


def matches(values: dict[str, Any], where: dict[str, str]) -> bool:
    return all(
        wanted in (str(values.get(path)), canonical_json(values.get(path)))
        for path, wanted in where.items()
    )


def cells(
    sweep: Sweep, *, session: Session, fields: list[str], where: list[str] | None = None
) -> list[dict[str, Any]]:
    """sweep_cells.cell_summaries of the cells that match `where`, in expansion order."""
    wanted = pinned(sweep, where)
    members = sweeps.experiments(session=session, sweep_id=sweep.id)
    return [c for c in sweep_cells.cell_summaries(sweep, members, fields) if matches(c, wanted)]


def cells_csv(sweep: Sweep, fields: list[str], rows: list[dict[str, Any]]) -> str:
    return to_csv(rows, sweep_cells.csv_columns(sweep, fields))


@dataclass(frozen=True)
class CellTraces:
    metric: str
    cells: list[dict[str, Any]]  # the axis values, cell_key and `points` (aggregate_trace)


def cell_traces(
    sweep: Sweep, *, session: Session, metric: str, where: list[str] | None = None
) -> CellTraces:
    if metric not in TRACE_METRICS:
        raise Invalid.query(
            "metric", f"unknown metric {metric!r}; known: {', '.join(TRACE_METRICS)}"
        )
    chosen = cells(sweep, session=session, fields=[], where=where)
    ids = [i for cell in chosen for i in cell["experiment_ids"]]
    by_experiment: dict[int, list[dict[str, Any]]] = {}
    for point in sweep_cells.trace_points(session=session, experiment_ids=ids, metrics=[metric]):
        by_experiment.setdefault(point["experiment_id"], []).append(point)
    out = []
    for cell in chosen:
        members = [p for i in cell["experiment_ids"] for p in by_experiment.get(i, [])]
        values = {path: cell[path] for path in sweep.axes}
        out.append(
            {**values, "cell_key": cell["cell_key"], "points": aggregate_trace(members, metric)}
        )
    return CellTraces(metric, out)


def cell_traces_csv(sweep: Sweep, traces: CellTraces) -> str:
    """One row per cell and point, the axis values first."""
    axes = sweep.axes
    rows = [{**{p: c[p] for p in axes}, **point} for c in traces.cells for point in c["points"]]
    return to_csv(rows, [*axes, *TRACE_CSV])


def scaling(
    sweep: Sweep, *, session: Session, x: str, metric: str, threshold: float | None
) -> list[dict[str, Any]]:
    """One log-log fit of samples against axis `x` per combination of the other axes: a list of
    {"key": the other axes' values, "fit": api.scaling_fit}."""
    if x not in sweep.axes:
        raise Invalid.query(
            "x", f"{x!r} is not an axis of this sweep ({sweep.axes})", Unstated.resource
        )
    if metric not in TRACE_METRICS:
        raise Invalid.query("metric", f"unknown metric {metric!r}")
    members = [
        e
        for e in sweeps.experiments(session=session, sweep_id=sweep.id)
        if e.status in FINISHED_WITH_RESULT
    ]
    crossing: dict[tuple[int, int], float | None] = {}
    if threshold is not None:
        points = sweep_cells.trace_points(
            session=session, experiment_ids=[e.id for e in members], metrics=[metric]
        )
        crossing = sweep_cells.first_crossing(points, metric, threshold)
    others = [path for path in sweep.axes if path != x]
    groups: dict[str, dict[str, Any]] = {}
    for experiment in members:
        values = json.loads(experiment.cell_key or "{}")
        xv = sweep_cells.numeric(values.get(x))
        if xv is None:
            raise Invalid.query(
                "x", f"axis {x!r} has a non-numeric value {values.get(x)!r}", Unstated.resource
            )
        key = {path: values.get(path) for path in others}
        group = groups.setdefault(canonical_json(key), {"key": key, "d": [], "samples": []})
        for seed in (experiment.result or {}).get("seeds") or []:
            if threshold is None:
                samples = sweep_cells.to_float(seed.get("weak_recovery_samples"))
            else:
                samples = crossing.get((experiment.id, seed.get("seed")))
            group["d"].append(xv)
            group["samples"].append(samples)
    return [{"key": g["key"], "fit": scaling_fit(g["d"], g["samples"])} for g in groups.values()]
