"""Statistics over experiments and traces: summaries with 95% t-intervals and per-point trace
summaries (api.scaling_fit fits power laws, api.csv_export writes CSV). Pure functions on plain
lists and dicts (no database, no torch) so routes can feed them whatever they queried.

Conventions:
- A value is *missing* when it is None or not finite (NaN from a diverged run, ±inf). Missing
  values are excluded from every statistic and counted in `n_missing`.
- Keys may be dotted paths into nested dicts: "spec.phase1.algorithm", "test_mse.mean".
- `std` is the sample standard deviation (ddof = 1); the interval is the t-interval of the mean,
  mean ± t_{0.975, n−1} · std / √n. With n = 1 the mean is given and std and the interval are None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

CONFIDENCE = 0.95
# The quantile of Student's t that bounds a two-sided CONFIDENCE interval.
T_LEVEL = 0.5 + CONFIDENCE / 2


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
        half = float(stats.t.ppf(T_LEVEL, n - 1)) * std / math.sqrt(n)
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
