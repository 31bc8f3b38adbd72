"""Alignment curves: the overlap with the hidden direction against samples, seed by seed, and
the losses below it (each panel is drawn by api.plots.curves)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from matplotlib.figure import Figure

from api.aggregate import finite, is_missing
from api.plots import curves
from api.plots.curves import METRIC_LABELS, label
from api.plots.render import Fmt, cached, message, new_figure
from trainer.results import LOSS_METRICS, OVERLAP_METRICS

WEAK_RECOVERY_OVERLAP = 0.5


def _choose_x(points: Sequence[Mapping[str, Any]], x: str) -> str:
    """ "samples" unless the samples hardly grow with the steps (GD on one fixed set)."""
    if x != "auto":
        return x
    phase1 = [p for p in points if p.get("phase", "phase1") == "phase1"]
    steps = {p["step"] for p in phase1}
    samples = {p.get("samples") for p in phase1 if not is_missing(p.get("samples"))}
    return "samples" if len(samples) * 2 >= len(steps) else "step"


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

    curves.panel(top, points, runs, metrics, x_key=x_key, log_y=False)
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
        top.set_ylabel(", ".join(label(m) for m in metrics))
    top.set_title(title or "Alignment with the hidden direction during training")
    if bottom is not None:
        losses = (finite(p.get(m)) for p in points for m in has_loss)
        positive = all(loss is None or loss > 0 for loss in losses)
        curves.panel(bottom, points, runs, has_loss, x_key=x_key, log_y=positive)
        bottom.set_ylabel("loss" + (" (log scale)" if positive else ""))
        bottom.set_xlabel(x_label)
    else:
        top.set_xlabel(x_label)
    return figure
