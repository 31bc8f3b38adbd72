"""Statistics over experiments and traces: summaries with 95% t-intervals, per-point trace
summaries, scaling fits, CSV. Pure functions on plain lists and dicts (no database, no torch) so
routes can feed them whatever they queried.

Conventions:
- A value is *missing* when it is None or not finite (NaN from a diverged run, ±inf). Missing
  values are excluded from every statistic and counted in `n_missing`.
- Keys may be dotted paths into nested dicts: "spec.phase1.algorithm", "test_mse.mean".
- `std` is the sample standard deviation (ddof = 1); the interval is the t-interval of the mean,
  mean ± t_{0.975, n−1} · std / √n. With n = 1 the mean is given and std and the interval are None.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

CONFIDENCE = 0.95
# The quantile of Student's t that bounds a two-sided CONFIDENCE interval.
_T_LEVEL = 0.5 + CONFIDENCE / 2


# ------------------------------------------------------------------------------------- values
def finite(value: Any) -> float | None:
    """The value as a float, or None when it is missing: None, NaN, ±inf or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def is_missing(value: Any) -> bool:
    """None, NaN, ±inf or anything that is not a number."""
    return finite(value) is None


def get_path(row: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """row[key] if present, else follow a dotted path ("spec.phase1.algorithm")."""
    if key in row:
        return row[key]
    value: Any = row
    for part in key.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return default
    return value


def summarize(values: Iterable[float | None]) -> dict[str, Any]:
    """mean, std, 95% t-interval of the mean, n (values used) and n_missing."""
    present: list[float] = []
    missing = 0
    for value in values:
        number = finite(value)
        if number is None:
            missing += 1
        else:
            present.append(number)
    n = len(present)
    out: dict[str, Any] = {
        "mean": None,
        "std": None,
        "ci95_low": None,
        "ci95_high": None,
        "n": n,
        "n_missing": missing,
    }
    if n == 0:
        return out
    array = np.asarray(present, dtype=float)
    mean = float(array.mean())
    out["mean"] = mean
    if n >= 2:
        std = float(array.std(ddof=1))
        half = float(stats.t.ppf(_T_LEVEL, n - 1)) * std / math.sqrt(n)
        out.update(std=std, ci95_low=mean - half, ci95_high=mean + half)
    return out


PHASE_ORDER = {"phase1": 0, "phase2": 1}


def aggregate_trace(points: Sequence[Mapping[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Summarize one metric per evaluation point across seeds (and experiments).

    An evaluation point is (phase, step); `samples` is the median of the points' sample counts
    (equal within one spec). Returns, ordered by phase then step:
    `{phase, step, samples, mean, std, ci95_low, ci95_high, n, n_missing, median}`.
    """
    groups: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for point in points:
        groups.setdefault((str(point.get("phase", "phase1")), int(point["step"])), []).append(point)
    out = []
    for phase, step in sorted(groups, key=lambda k: (PHASE_ORDER.get(k[0], 9), k[0], k[1])):
        members = groups[(phase, step)]
        values = [point.get(metric) for point in members]
        summary = summarize(values)
        present = [x for x in map(finite, values) if x is not None]
        samples = [x for x in (finite(p.get("samples")) for p in members) if x is not None]
        median_samples = float(np.median(samples)) if samples else None
        if median_samples is not None and median_samples.is_integer():
            median_samples = int(median_samples)
        out.append(
            {
                "phase": phase,
                "step": step,
                "samples": median_samples,
                **summary,
                "median": float(np.median(present)) if present else None,
            }
        )
    return out


# ---------------------------------------------------------------------------------- scaling fit
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
        half = float(stats.t.ppf(_T_LEVEL, n - 2)) * se
        out.update(exponent_se=se, exponent_ci95=[slope - half, slope + half])
    return out


# ---------------------------------------------------------------------------------------- CSV
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    text = str(value)
    # A text cell that a spreadsheet would run as a formula (names and tags are user input) gets a
    # leading apostrophe (OWASP "CSV injection"); numbers written as text are left alone.
    if text.startswith(_FORMULA_START) and is_missing(text):
        return "'" + text
    return text


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV text with a header row; columns may be dotted paths ("test_mse.mean").

    None is an empty cell, floats round-trip (repr), lists and dicts are JSON, booleans
    true/false."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(get_path(row, column)) for column in columns])
    return buffer.getvalue()
