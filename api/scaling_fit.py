"""The power law samples ≈ prefactor · d^exponent fitted to (d, samples) points, with the t-interval
of the exponent. Pure function on plain lists (conventions: api.aggregate)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

from api.aggregate import T_LEVEL, finite


def scaling_fit(ds: Sequence[float], samples: Sequence[float | None]) -> dict[str, Any]:
    """Fit samples ≈ prefactor · d^exponent by least squares of log(samples) on log(d).

    Each (d, samples) pair is one point (one seed or one experiment). Missing samples (None: the
    run never recovered; NaN; non-positive) are excluded and counted in `n_missing`. The 95%
    interval of the exponent is the t-interval of the OLS slope with n − 2 degrees of freedom;
    it is None with fewer than three points or fewer than two distinct d.

    Returns `{exponent, exponent_ci95: [low, high] | None, exponent_se, prefactor, n, n_missing,
    r2, points: [{d, samples}], missing: [{d}]}`; exponent and prefactor are None when fewer than
    two distinct d remain.
    """
    if len(ds) != len(samples):
        raise ValueError(f"ds has {len(ds)} entries but samples has {len(samples)}")
    points, missing = [], []
    for raw_d, raw_s in zip(ds, samples, strict=True):
        d, s = finite(raw_d), finite(raw_s)
        if d is None or d <= 0:
            raise ValueError(f"d must be a positive number, got {raw_d!r}")
        if s is None or s <= 0:
            missing.append({"d": d})
        else:
            points.append({"d": d, "samples": s})
    out: dict[str, Any] = {
        "exponent": None,
        "exponent_ci95": None,
        "exponent_se": None,
        "prefactor": None,
        "n": len(points),
        "n_missing": len(missing),
        "r2": None,
        "points": points,
        "missing": missing,
    }
    x = np.log([p["d"] for p in points])
    y = np.log([p["samples"] for p in points])
    if len(points) < 2 or np.ptp(x) == 0:
        return out
    x_mean, y_mean = x.mean(), y.mean()
    sxx = float(((x - x_mean) ** 2).sum())
    slope = float(((x - x_mean) * (y - y_mean)).sum() / sxx)
    intercept = float(y_mean - slope * x_mean)
    residuals = y - (intercept + slope * x)
    ss_res = float((residuals**2).sum())
    ss_tot = float(((y - y_mean) ** 2).sum())
    out.update(
        exponent=slope,
        prefactor=math.exp(intercept),
        r2=1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0,
    )
    n = len(points)
    if n >= 3:
        se = math.sqrt(ss_res / (n - 2) / sxx)
        half = float(stats.t.ppf(T_LEVEL, n - 2)) * se
        out.update(exponent_se=se, exponent_ci95=[slope - half, slope + half])
    return out


BOOTSTRAP_SEED = 20240602  # fixed: the same stored results give the same interval


def log_slope(d: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """(b, a) of log(values) = a + b·log(d) by least squares."""
    b, a = np.polyfit(np.log(np.asarray(d, dtype=float)), np.log(np.asarray(values, float)), 1)
    return float(b), float(a)


def bootstrap_slope(
    d: Sequence[float],
    draw: Callable[[np.random.Generator], Sequence[float | None]],
    resamples: int,
) -> tuple[tuple[float, float] | None, int]:
    """The 95% percentile interval of log_slope over `resamples` replicates, each drawn by
    `draw(rng)` (one value per d, resampled over seeds; None where the replicate has no value,
    e.g. a censored median: that replicate is left out and counted). The interval is None with
    fewer than 20 usable replicates. Returns (interval, replicates left out)."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    slopes, left_out = [], 0
    for _ in range(resamples):
        sample = draw(rng)
        if any(v is None for v in sample):
            left_out += 1
            continue
        slopes.append(log_slope(d, [float(v) for v in sample if v is not None])[0])
    if len(slopes) < 20:
        return None, left_out
    low, high = np.percentile(slopes, [2.5, 97.5])
    return (float(low), float(high)), left_out
