"""Scaling plots: samples to weak recovery against the dimension d, with the fitted power law."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from api.aggregate import is_missing
from api.plots.render import Fmt, cached, message, new_figure, tick_label


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

    `fit` is api.scaling_fit's result; `points` ({d, samples} dicts) default to its
    points. The legend gives the exponent with its 95% interval. Dashed reference lines of slope
    `reference_slopes` (1: the information-theoretic d) and, when `information_exponent` p is
    given, p − 1 (online SGD's d^(p−1)) start at the geometric mean of the smallest d's points.
    """
    if points is None:
        points = fit.get("points", [])
    options: dict[str, Any] = {
        "fit": {k: v for k, v in fit.items() if k != "points"},
        "points": [dict(p) for p in points],
        "reference_slopes": list(reference_slopes),
        "information_exponent": information_exponent,
        "title": title,
        "y_label": y_label,
    }
    return cached("scaling", fmt, options, lambda: _draw(**options))


def _draw(
    fit: dict[str, Any],
    points: list[dict[str, Any]],
    reference_slopes: list[float],
    information_exponent: int | None,
    title: str | None,
    y_label: str,
) -> Figure:
    figure = new_figure(6.4, 4.8)
    usable = [
        (float(p["d"]), float(p["samples"]))
        for p in points
        if not is_missing(p.get("d"))
        and not is_missing(p.get("samples"))
        and p["d"] > 0
        and p["samples"] > 0
    ]
    if not usable:
        message(figure, "No run has reached weak recovery yet")
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
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: tick_label(float(v))))
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
