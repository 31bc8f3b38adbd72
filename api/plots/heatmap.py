"""Figure-1 style heatmaps: one coloured cell per distinct (x, y) of a sweep's cells."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from api.aggregate import get_path, is_missing
from api.plots.render import Fmt, cached, message, new_figure, tick_label


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

    Keys may be dotted paths (`value_key="test_mse.mean"` on cells of summaries). Powers of
    two on either axis are labelled 2^k; the axes are the sorted distinct values, evenly spaced
    (a log2 grid when the values are powers of two). Missing values (None, NaN) are grey.
    Two cells with the same (x, y) are an error: aggregate first.
    """
    rows = [dict(c) for c in cells]
    options: dict[str, Any] = {
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
    return cached("heatmap", fmt, {"cells": rows, **options}, lambda: _draw(rows, **options))


def _axis_values(cells: list[dict[str, Any]], key: str) -> list[Any]:
    values = {get_path(c, key) for c in cells}
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return sorted(values) if numeric else sorted(values, key=str)


def _draw(
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
    figure = new_figure(6.8, 5.2)
    if not cells:
        message(figure, "No cells to show")
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
        if not high > low:  # one value everywhere: a readable bar around it, not ±1e-12
            spread = abs(low) * 0.05 or 1.0
            low, high = low - spread, high + spread
        norm = Normalize(vmin=low, vmax=high)

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
    ax.set_xticks(np.arange(len(xs)), [tick_label(v) for v in xs])
    ax.set_yticks(np.arange(len(ys)), [tick_label(v) for v in ys])
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
