"""Alignment curves: the overlap with the hidden direction against samples, seed by seed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import matplotlib
from matplotlib.figure import Figure

from api.aggregate import aggregate_trace, finite, is_missing
from api.plots.render import Fmt, cached, message, new_figure
from trainer.results import LOSS_METRICS, METRIC_INFO, OVERLAP_METRICS

# The metrics are named once, in trainer.results (GET /meta serves the same list).
METRIC_LABELS = {m.name: m.label for m in METRIC_INFO}
WEAK_RECOVERY_OVERLAP = 0.5


def _label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def _choose_x(points: Sequence[Mapping[str, Any]], x: str) -> str:
    """ "samples" unless the samples hardly grow with the steps (GD on one fixed set)."""
    if x != "auto":
        return x
    phase1 = [p for p in points if p.get("phase", "phase1") == "phase1"]
    steps = {p["step"] for p in phase1}
    samples = {p.get("samples") for p in phase1 if not is_missing(p.get("samples"))}
    return "samples" if len(samples) * 2 >= len(steps) else "step"


def _positive(
    xs: Sequence[Any], ys: Sequence[Any], *, log_y: bool = False
) -> tuple[list[float], list[float]]:
    keep = [
        (a, b)
        for a, b in zip(map(finite, xs), map(finite, ys), strict=True)
        if a is not None and a > 0 and b is not None and (not log_y or b > 0)
    ]
    return [a for a, _ in keep], [b for _, b in keep]


def alignment_curves(
    trace_points: Sequence[Mapping[str, Any]],
    metrics: Sequence[str] = ("median_abs_m",),
    *,
    loss_metrics: Sequence[str] = LOSS_METRICS,
    x: Literal["auto", "samples", "step"] = "auto",
    title: str | None = None,
    fmt: Fmt = "png",
) -> bytes:
    """Overlap against samples (log axis): each seed a faint line, the median across seeds bold.

    `trace_points` are dicts like trace_point rows: `seed`, `phase`, `step`, `samples` and the
    metric columns (an `experiment_id` key, when present, separates seeds of different
    experiments). A second panel shows `loss_metrics` (training loss, test error) when any has a
    value; Phase II points appear as markers. The x axis is samples, or gradient steps when
    x="step" or, with x="auto", when the samples hardly grow with the steps (GD on a fixed set).
    Only samples > 0 can be drawn on the log axis.
    """
    points = [dict(p) for p in trace_points]
    options: dict[str, Any] = {
        "metrics": list(metrics),
        "loss_metrics": list(loss_metrics),
        "x": x,
        "title": title,
    }
    return cached("alignment", fmt, {"points": points, **options}, lambda: _draw(points, **options))


def _draw(
    points: list[dict[str, Any]],
    metrics: list[str],
    loss_metrics: list[str],
    x: str,
    title: str | None,
) -> Figure:
    unknown = [m for m in metrics + loss_metrics if m not in METRIC_LABELS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {list(METRIC_LABELS)}")
    has_loss = [m for m in loss_metrics if any(not is_missing(p.get(m)) for p in points)]
    figure = new_figure(7.5, 6.2 if has_loss else 4.2)
    if not points:
        message(figure, "No evaluation points yet")
        return figure
    x_key = _choose_x(points, x)
    x_label = (
        "fresh samples drawn (log scale)" if x_key == "samples" else "gradient steps (log scale)"
    )
    if has_loss:
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    else:
        top, bottom = figure.add_subplot(), None

    runs: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for p in points:
        runs.setdefault((p.get("experiment_id"), p.get("seed")), []).append(p)
    for run in runs.values():
        run.sort(key=lambda p: (p.get("phase", "phase1") != "phase1", p["step"]))

    colours = matplotlib.color_sequences["tab10"]

    def panel(ax: Any, names: list[str], log_y: bool) -> None:
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
                    label=f"{_label(metric)}: median of {n_runs} run{'s' * (n_runs != 1)}",
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
                    label=f"{_label(metric)} after Phase II",
                )
        ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")

    panel(top, metrics, log_y=False)
    if all(m in OVERLAP_METRICS for m in metrics):
        top.axhline(WEAK_RECOVERY_OVERLAP, color="0.4", linestyle=":", linewidth=1)
        top.text(
            1.0,
            WEAK_RECOVERY_OVERLAP,
            " weak recovery",
            transform=top.get_yaxis_transform(),
            va="center",
            ha="left",
            fontsize=7,
            color="0.4",
            clip_on=False,
        )
        top.set_ylim(-0.02, 1.02)
        top.set_ylabel("overlap with the hidden direction")
    else:
        top.set_ylabel(", ".join(_label(m) for m in metrics))
    top.set_title(title or "Alignment with the hidden direction during training")
    if bottom is not None:
        losses = (finite(p.get(m)) for p in points for m in has_loss)
        positive = all(loss is None or loss > 0 for loss in losses)
        panel(bottom, has_loss, log_y=positive)
        bottom.set_ylabel("loss" + (" (log scale)" if positive else ""))
        bottom.set_xlabel(x_label)
    else:
        top.set_xlabel(x_label)
    return figure
