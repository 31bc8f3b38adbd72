"""One panel of training curves: each run a faint line, the median across runs bold, and the
Phase II points as markers (api/plots/alignment.py lays out the figure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

from api.aggregate import aggregate_trace, finite
from trainer.results import METRIC_INFO

# The metrics are named once, in trainer.results (GET /meta serves the same list).
METRIC_LABELS = {m.name: m.label for m in METRIC_INFO}


def label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def panel(
    ax: Any,
    points: Sequence[Mapping[str, Any]],
    runs: Mapping[Any, Sequence[Mapping[str, Any]]],
    names: Sequence[str],
    *,
    x_key: str,
    log_y: bool,
) -> None:
    """One axes of curves, a colour per metric in `names`: every run (seed) of `runs` a faint
    line, the median across them bold, Phase II points as stars. Log x; log y when `log_y`
    (only positive values can be drawn on a log axis)."""
    colours = matplotlib.color_sequences["tab10"]
    for index, metric in enumerate(names):
        colour = colours[index % len(colours)]
        for run in runs.values():
            line = [p for p in run if p.get("phase", "phase1") == "phase1"]
            xs, ys = _positive(
                [p.get(x_key) for p in line], [p.get(metric) for p in line], log_y=log_y
            )
            if xs:
                ax.plot(xs, ys, color=colour, alpha=0.25, linewidth=0.8)
        summary = [s for s in aggregate_trace(points, metric) if s["phase"] == "phase1"]
        by_x = [s.get(x_key) if x_key == "samples" else s["step"] for s in summary]
        xs, ys = _positive(by_x, [s["median"] for s in summary], log_y=log_y)
        n_runs = max((s["n"] for s in summary), default=0)
        if xs:
            ax.plot(
                xs,
                ys,
                color=colour,
                linewidth=2.2,
                label=f"{label(metric)}: median of {n_runs} run{'s' * (n_runs != 1)}",
            )
        phase2 = [p for p in points if p.get("phase") == "phase2"]
        xs, ys = _positive(
            [p.get(x_key) for p in phase2], [p.get(metric) for p in phase2], log_y=log_y
        )
        if xs:
            ax.scatter(
                xs,
                ys,
                color=colour,
                marker="*",
                s=70,
                zorder=3,
                edgecolors="black",
                linewidths=0.4,
                label=f"{label(metric)} after Phase II",
            )
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")


def _positive(
    xs: Sequence[Any], ys: Sequence[Any], *, log_y: bool = False
) -> tuple[list[float], list[float]]:
    keep = [
        (a, b)
        for a, b in zip(map(finite, xs), map(finite, ys), strict=True)
        if a is not None and a > 0 and b is not None and (not log_y or b > 0)
    ]
    return [a for a, _ in keep], [b for _, b in keep]
