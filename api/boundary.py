"""Where a sweep's cells cross a level: per (target, algorithm, d), the smallest sample count at
which the median over seeds of a per-seed result reaches `level` (at or below it for a metric
that is better lower, such as test MSE; at or above it for an overlap), and the boundary's
scaling law over d with a 95% bootstrap interval over seeds. No database access.

Between the last cell short of the level and the first that reaches it, the boundary is
interpolated linearly in log x and in the metric (log metric when the registry draws it on log
axes). A line that reaches the level already at its smallest x, or never, has no boundary, only
a bound, and its fit is refused with the reason (the same rule as fair.py's censored medians).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from api import survival
from api.scaling_fit import bootstrap_slope, log_slope
from db.models import FINISHED_WITH_RESULT, Experiment
from trainer.results import METRIC_BY_NAME, Metric

# Per-seed results a boundary can be drawn on, and the registry metric that says which way is
# better and on what scale.
FIELDS = {
    "test_mse": "test_mse",
    "final_median_abs_m": "median_abs_m",
    "final_mean_abs_m": "mean_abs_m",
    "final_max_abs_m": "max_abs_m",
    "final_frac_m_09": "frac_m_09",
}
# x: Phase I's fresh samples, those plus Phase II's (the total a two-phase run consumed), or
# Phase I's gradient steps (gd's clock: its sample count is its fixed set throughout).
X_KINDS = ("samples", "total_samples", "steps")


def x_of(experiment: Experiment, x: str) -> float:
    result = experiment.result or {}
    if x == "steps":
        return float(result.get("steps") or 0)
    extra = (result.get("extra") or {}).get("phase2_samples") or 0
    return float(result.get("samples") or 0) + (float(extra) if x == "total_samples" else 0.0)


def _seed_value(seed: dict[str, Any], field: str, metric: Metric) -> float:
    """A seed without a finite value (diverged, no Phase II) counts as the worst possible."""
    value = survival.finite(seed.get(field))
    if value is not None:
        return value
    return math.inf if metric.better == "lower" else -math.inf


class Line:
    """The cells of one (target, algorithm, d), sorted by x: per cell its seeds' values."""

    def __init__(self, field: str, level: float, cells: list[tuple[float, str, list[float]]]):
        self.metric = METRIC_BY_NAME[FIELDS[field]]
        self.level = level
        self.cells = sorted(cells)

    def reached(self, value: float) -> bool:
        return value <= self.level if self.metric.better == "lower" else value >= self.level

    def crossing(self, medians: Sequence[float]) -> tuple[float | None, str | None]:
        """(boundary, None), or (None, why there is none)."""
        xs = [c[0] for c in self.cells]
        for k, median in enumerate(medians):
            if not self.reached(median):
                continue
            if k == 0:
                return None, f"reached already at the smallest x = {xs[0]:g}"
            scale = math.log if self.metric.log_scale else float
            lo, hi = medians[k - 1], median
            if not (math.isfinite(lo) and (not self.metric.log_scale or lo > 0 < hi)):
                return xs[k], None  # the cell before had no usable value: no interpolation
            t = (scale(self.level) - scale(lo)) / (scale(hi) - scale(lo))
            return math.exp(math.log(xs[k - 1]) + t * (math.log(xs[k]) - math.log(xs[k - 1]))), None
        return None, f"not reached by the largest x = {xs[-1]:g}"

    def medians(self, rng: np.random.Generator | None = None) -> list[float]:
        """Each cell's median over its seeds, or over a bootstrap draw of them (rng)."""

        def pick(v: list[float]) -> list[float]:
            return v if rng is None else [v[i] for i in rng.integers(0, len(v), len(v))]

        return [float(np.median(pick(values))) for _, _, values in self.cells]


def lines(members: Sequence[Experiment], field: str, level: float, x: str) -> dict[tuple, Line]:
    """Finished cells grouped by (target, algorithm, d); a cell's seeds pooled over experiments."""
    metric = METRIC_BY_NAME[FIELDS[field]]
    cells: dict[str, tuple[Experiment, float, list[float]]] = {}
    for e in members:
        if e.status not in FINISHED_WITH_RESULT or not e.result:
            continue
        values = [_seed_value(s, field, metric) for s in e.result.get("seeds") or []]
        key = e.cell_key or "{}"
        first, at, pooled = cells.get(key, (e, x_of(e, x), []))
        cells[key] = (first, at, pooled + values)
    grouped: dict[tuple, list[tuple[float, str, list[float]]]] = {}
    for key, (e, at, values) in cells.items():
        if values and at > 0:
            grouped.setdefault((e.target, e.algorithm, e.d), []).append((at, key, values))
    out = {}
    for group, group_cells in sorted(grouped.items()):
        xs = [c[0] for c in group_cells]
        if len(set(xs)) != len(xs):
            raise ValueError(
                f"{group}: several cells at the same x; pin the other axes (d_min/d_max) or "
                "sweep one line per (target, algorithm, d)"
            )
        out[group] = Line(field, level, group_cells)
    return out


def boundary(
    members: Sequence[Experiment], field: str, level: float, x: str, resamples: int
) -> dict[str, Any]:
    """Per line its cells' medians and boundary; per (target, algorithm) the fit of
    boundary ≈ e^a·d^b (or why it is refused)."""
    found = lines(members, field, level, x)
    groups: list[dict[str, Any]] = []
    by_fit: dict[tuple[str, str], list[tuple[int, Line, float | None, str | None]]] = {}
    for (target, algorithm, d), line in found.items():
        medians = line.medians()
        at, why = line.crossing(medians)
        groups.append(
            {
                "target": target,
                "algorithm": algorithm,
                "d": d,
                "boundary": at,
                "no_boundary": why,
                "cells": [
                    {"x": c[0], "cell_key": c[1], "seeds": len(c[2]), "median": m}
                    for c, m in zip(line.cells, medians, strict=True)
                ],
            }
        )
        by_fit.setdefault((target, algorithm), []).append((d, line, at, why))
    fits = [
        _fit(target, algorithm, rows, resamples) for (target, algorithm), rows in by_fit.items()
    ]
    better = METRIC_BY_NAME[FIELDS[field]].better
    head = {"field": field, "level": level, "x": x, "better": better}
    return {**head, "groups": groups, "fits": fits}


def _fit(
    target: str,
    algorithm: str,
    rows: list[tuple[int, Line, float | None, str | None]],
    resamples: int,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"target": target, "algorithm": algorithm, "fit": None}
    missing = [f"d = {d}: {why}" for d, _, at, why in rows if at is None]
    if missing or len(rows) < 2:
        entry["refused"] = "; ".join(missing) or "a scaling fit needs at least two values of d"
        return entry
    d = [float(r[0]) for r in rows]
    at = [float(r[2]) for r in rows if r[2] is not None]  # every one: `missing` is empty
    b, a = log_slope(d, at)

    def draw(rng: np.random.Generator) -> list[float | None]:
        return [line.crossing(line.medians(rng))[0] for _, line, _, _ in rows]

    ci, censored = bootstrap_slope(d, draw, resamples)
    entry["fit"] = {
        "b": float(b),
        "a": float(a),
        "ci95": list(ci) if ci else None,
        "d": d,
        "boundaries": at,
        "resamples": resamples,
        "resamples_censored": censored,
    }
    return entry
