"""Figures as PNG or SVG bytes: alignment curves, Figure-1 style heatmaps, scaling plots.

Rendering uses matplotlib's object API (`matplotlib.figure.Figure` + the Agg/SVG canvases), never
pyplot, so no global figure state is touched. Matplotlib still shares caches (fonts, text layout)
between threads and documents itself as not thread-safe, so renders are serialized by one lock;
a render takes 0.1–0.5 s. Routes call these off the event loop (`run_in_threadpool`).

Every public function is cached: an in-process LRU keyed by (kind, sha256 of the canonical JSON of
all its inputs, fmt). The cache holds bytes, which are immutable, so a hit is safe to share.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from api.aggregate import aggregate_trace, finite, get_path, is_missing
from trainer.results import LOSS_METRICS, METRIC_INFO, OVERLAP_METRICS

Fmt = Literal["png", "svg"]
FORMATS = ("png", "svg")
MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}

METRIC_LABELS = {m.name: m.label for m in METRIC_INFO}
WEAK_RECOVERY_OVERLAP = 0.5

_DPI = 110
_RENDER_LOCK = threading.Lock()


# ------------------------------------------------------------------------------------- caching
class RenderCache:
    """A thread-safe LRU of rendered bytes, bounded by entries and by total bytes."""

    def __init__(self, max_entries: int = 256, max_bytes: int = 64 * 2**20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, str, str]) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: tuple[str, str, str], value: bytes) -> None:
        with self._lock:
            if key in self._items:
                self._bytes -= len(self._items.pop(key))
            if len(value) > self.max_bytes:
                return
            self._items[key] = value
            self._bytes += len(value)
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def info(self) -> dict[str, int]:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "entries": len(self._items),
                "bytes": self._bytes,
            }


CACHE = RenderCache()


def cache_info() -> dict[str, int]:
    return CACHE.info()


def cache_clear() -> None:
    CACHE.clear()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def data_hash(data: Any) -> str:
    """sha256 of the canonical JSON of `data` (NaN written as NaN, unknown types as str)."""
    text = json.dumps(data, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _cached(kind: str, fmt: str, inputs: dict[str, Any], draw: Callable[[], Figure]) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    key = (kind, data_hash(inputs), fmt)
    hit = CACHE.get(key)
    if hit is not None:
        return hit
    with _RENDER_LOCK:
        figure = draw()
        data = _save(figure, fmt)
    CACHE.put(key, data)
    return data


def _save(figure: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    # No dates or version strings in the file: the same input gives the same bytes.
    metadata: dict[str, Any] = (
        {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    )
    # SVG element ids are salted with a random uuid unless svg.hashsalt is set. rc_context changes
    # the global rcParams for the duration of the save; callers hold _RENDER_LOCK.
    with matplotlib.rc_context({"svg.hashsalt": "silab"}):
        figure.savefig(buffer, format=fmt, dpi=_DPI, metadata=metadata, bbox_inches="tight")
    return buffer.getvalue()


def _new_figure(width: float, height: float) -> Figure:
    # A Figure made directly (not through pyplot) is not registered anywhere; savefig attaches
    # the canvas for the format it writes.
    return Figure(figsize=(width, height), layout="constrained")


def _message(figure: Figure, text: str) -> None:
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="0.3", wrap=True)


# ------------------------------------------------------------------------------ alignment curves
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
    inputs = {
        "points": points,
        "metrics": list(metrics),
        "loss_metrics": list(loss_metrics),
        "x": x,
        "title": title,
    }

    def draw() -> Figure:
        return _draw_alignment(points, list(metrics), list(loss_metrics), x, title)

    return _cached("alignment", fmt, inputs, draw)


def _draw_alignment(
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
    figure = _new_figure(7.5, 6.2 if has_loss else 4.2)
    if not points:
        _message(figure, "No evaluation points yet")
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


# ------------------------------------------------------------------------------------- heatmap
def _power_of_two(value: float) -> int | None:
    if value <= 0:
        return None
    exponent = math.log2(value)
    return round(exponent) if abs(exponent - round(exponent)) < 1e-9 else None


def _tick_label(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        k = _power_of_two(float(value))
        if k is not None and abs(k) >= 1:
            return f"$2^{{{k}}}$"
        return f"{value:g}"
    return str(value)


def heatmap(
    cells: Sequence[Mapping[str, Any]],
    x_key: str,
    y_key: str,
    value_key: str,
    *,
    title: str | None = None,
    x_label: str | None = None,
    y_label: str | None = None,
    colorbar_label: str | None = None,
    annotate: bool = False,
    log_color: bool = False,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    fmt: Fmt = "png",
) -> bytes:
    """A grid of coloured cells, one per distinct (x, y), like the paper's Figure 1.

    Keys may be dotted paths (`value_key="test_mse.mean"` on aggregate_results' cells). Powers of
    two on either axis are labelled 2^k; the axes are the sorted distinct values, evenly spaced
    (a log2 grid when the values are powers of two). Missing values (None, NaN) are grey.
    Two cells with the same (x, y) are an error: aggregate first.
    """
    rows = [dict(c) for c in cells]
    inputs = {
        "cells": rows,
        "x_key": x_key,
        "y_key": y_key,
        "value_key": value_key,
        "title": title,
        "x_label": x_label,
        "y_label": y_label,
        "colorbar_label": colorbar_label,
        "annotate": annotate,
        "log_color": log_color,
        "cmap": cmap,
        "vmin": vmin,
        "vmax": vmax,
    }

    def draw() -> Figure:
        return _draw_heatmap(
            rows,
            x_key,
            y_key,
            value_key,
            title,
            x_label,
            y_label,
            colorbar_label,
            annotate,
            log_color,
            cmap,
            vmin,
            vmax,
        )

    return _cached("heatmap", fmt, inputs, draw)


def _axis_values(cells: list[dict[str, Any]], key: str) -> list[Any]:
    values = {get_path(c, key) for c in cells}
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return sorted(values) if numeric else sorted(values, key=str)


def _draw_heatmap(
    cells: list[dict[str, Any]],
    x_key: str,
    y_key: str,
    value_key: str,
    title: str | None,
    x_label: str | None,
    y_label: str | None,
    colorbar_label: str | None,
    annotate: bool,
    log_color: bool,
    cmap: str,
    vmin: float | None,
    vmax: float | None,
) -> Figure:
    figure = _new_figure(6.8, 5.2)
    if not cells:
        _message(figure, "No cells to show")
        return figure
    xs, ys = _axis_values(cells, x_key), _axis_values(cells, y_key)
    x_index = {v: i for i, v in enumerate(xs)}
    y_index = {v: i for i, v in enumerate(ys)}
    grid = np.full((len(ys), len(xs)), np.nan)
    seen: set[tuple[int, int]] = set()
    for cell in cells:
        i, j = y_index[get_path(cell, y_key)], x_index[get_path(cell, x_key)]
        if (i, j) in seen:
            raise ValueError(
                f"two cells at {x_key}={xs[j]!r}, {y_key}={ys[i]!r}: aggregate them first"
            )
        seen.add((i, j))
        value = get_path(cell, value_key)
        if not is_missing(value):
            grid[i, j] = float(value)

    finite = grid[np.isfinite(grid)]
    colour_map = matplotlib.colormaps[cmap].with_extremes(bad="0.82")
    if log_color and finite.size and (finite > 0).all():
        norm: Normalize = LogNorm(vmin=vmin or finite.min(), vmax=vmax or finite.max())
    else:
        low = vmin if vmin is not None else (finite.min() if finite.size else 0.0)
        high = vmax if vmax is not None else (finite.max() if finite.size else 1.0)
        norm = Normalize(vmin=low, vmax=high if high > low else low + 1e-12)

    ax = figure.add_subplot()
    mesh = ax.pcolormesh(
        np.arange(len(xs) + 1) - 0.5,
        np.arange(len(ys) + 1) - 0.5,
        np.ma.masked_invalid(grid),
        cmap=colour_map,
        norm=norm,
        edgecolors="white",
        linewidth=0.5,
    )
    ax.set_xticks(np.arange(len(xs)), [_tick_label(v) for v in xs])
    ax.set_yticks(np.arange(len(ys)), [_tick_label(v) for v in ys])
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.set_ylim(-0.5, len(ys) - 0.5)
    ax.set_xlabel(x_label or x_key.replace("_", " "))
    ax.set_ylabel(y_label or y_key.replace("_", " "))
    ax.set_title(title or f"{value_key.replace('_', ' ')} by {x_key} and {y_key}")
    bar = figure.colorbar(mesh, ax=ax)
    bar.set_label(colorbar_label or value_key.replace("_", " "))
    if np.isnan(grid).any():
        ax.text(
            1.0,
            -0.1,
            "grey: no value",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color="0.35",
        )
    if annotate:
        for i in range(len(ys)):
            for j in range(len(xs)):
                value = grid[i, j]
                if not np.isfinite(value):
                    continue
                r, g, b, _ = colour_map(norm(value))
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                ax.text(
                    j,
                    i,
                    f"{value:.2g}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if dark else "black",
                )
    return figure


# -------------------------------------------------------------------------------- scaling plot
def scaling_plot(
    fit: Mapping[str, Any],
    points: Sequence[Mapping[str, Any]] | None = None,
    *,
    reference_slopes: Sequence[float] = (1.0,),
    information_exponent: int | None = None,
    title: str | None = None,
    y_label: str = "samples to weak recovery",
    fmt: Fmt = "png",
) -> bytes:
    """Log-log samples-to-weak-recovery against d with the fitted power law.

    `fit` is api.aggregate.scaling_fit's result; `points` ({d, samples} dicts) default to its
    points. The legend gives the exponent with its 95% interval. Dashed reference lines of slope
    `reference_slopes` (1: the information-theoretic d) and, when `information_exponent` p is
    given, p − 1 (online SGD's d^(p−1)) start at the geometric mean of the smallest d's points.
    """
    if points is None:
        points = fit.get("points", [])
    fit_only = {k: v for k, v in fit.items() if k != "points"}
    rows = [dict(p) for p in points]
    inputs = {
        "fit": fit_only,
        "points": rows,
        "reference_slopes": list(reference_slopes),
        "information_exponent": information_exponent,
        "title": title,
        "y_label": y_label,
    }

    def draw() -> Figure:
        return _draw_scaling(
            fit_only,
            rows,
            list(reference_slopes),
            information_exponent,
            title,
            y_label,
        )

    return _cached("scaling", fmt, inputs, draw)


def _draw_scaling(
    fit: dict[str, Any],
    points: list[dict[str, Any]],
    reference_slopes: list[float],
    information_exponent: int | None,
    title: str | None,
    y_label: str,
) -> Figure:
    figure = _new_figure(6.4, 4.8)
    usable = [
        (float(p["d"]), float(p["samples"]))
        for p in points
        if not is_missing(p.get("d"))
        and not is_missing(p.get("samples"))
        and p["d"] > 0
        and p["samples"] > 0
    ]
    if not usable:
        _message(figure, "No run has reached weak recovery yet")
        return figure
    ax = figure.add_subplot()
    d = np.array([u[0] for u in usable])
    s = np.array([u[1] for u in usable])
    ax.scatter(d, s, s=18, alpha=0.55, color="tab:blue", label=f"runs ({len(usable)})")
    distinct = np.unique(d)
    medians = np.array([np.median(s[d == value]) for value in distinct])
    if len(distinct) < len(d):
        ax.scatter(
            distinct,
            medians,
            s=60,
            marker="D",
            color="tab:blue",
            edgecolors="black",
            linewidths=0.6,
            zorder=3,
            label="median per d",
        )
    line_d = np.geomspace(distinct.min(), distinct.max(), 50) if len(distinct) > 1 else distinct
    exponent, prefactor = fit.get("exponent"), fit.get("prefactor")
    if exponent is not None and prefactor is not None:
        interval = fit.get("exponent_ci95")
        text = f"fit: samples ∝ d^{exponent:.2f}"
        if interval:
            half = (interval[1] - interval[0]) / 2
            text += f" ± {half:.2f} (95% CI {interval[0]:.2f} to {interval[1]:.2f})"
        ax.plot(line_d, prefactor * line_d**exponent, color="tab:red", linewidth=2, label=text)
    slopes = [(float(k), f"slope {float(k):g} (reference)") for k in reference_slopes]
    if information_exponent is not None:
        p = information_exponent
        slopes.append((float(p - 1), f"slope p − 1 = {p - 1} (online SGD, p = {p})"))
    anchor = float(np.exp(np.mean(np.log(s[d == distinct.min()]))))
    styles = ["--", "-.", ":", (0, (5, 1))]
    for index, (slope, label) in enumerate(slopes):
        ax.plot(
            line_d,
            anchor * (line_d / distinct.min()) ** slope,
            color="0.35",
            linestyle=styles[index % len(styles)],
            linewidth=1.1,
            label=label,
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(distinct.tolist()))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _tick_label(float(v))))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("input dimension d (log scale)")
    ax.set_ylabel(f"{y_label} (log scale)")
    ax.set_title(title or "Samples to weak recovery against dimension")
    missing = fit.get("n_missing") or 0
    if missing:
        ax.text(
            0.99,
            0.01,
            f"{missing} run{'s' * (missing != 1)} never reached weak recovery (not in the fit)",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            color="0.35",
        )
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="upper left")
    return figure
