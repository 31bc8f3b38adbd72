"""Downsampling a trace to about a given number of points, keeping every curve's shape."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from db.traces import Series


def downsample(series: list[Series], metrics: Sequence[str], max_points: int) -> list[Series]:
    """At most about `max_points` points that keep the shape of every curve.

    Each series (one seed in one phase) is cut into buckets of consecutive points (equal counts,
    so log-spaced evaluations are thinned evenly on a log axis); a bucket keeps the points holding
    the minimum and the maximum of each chosen metric, and every series keeps its first and last
    point, so every seed's global extremes survive. The metrics' extremes often fall on the same
    points, so the bucket count is the largest (found by bisection) whose kept points fit the
    series' share of the budget. A series needs up to 2 + 2·len(metrics) points however small the
    budget, so the result can exceed `max_points` when it is smaller than that times the number
    of series. Each try is O(points) in numpy; the bisection makes it O(points · log budget).
    """
    total = sum(len(s) for s in series)
    if total <= max_points:
        return series
    budget = max(1, max_points // len(series))
    per_bucket = max(1, 2 * len(metrics))
    out = []
    for s in series:
        n = len(s)
        if n <= budget:
            out.append(s)
            continue
        low = max(1, (budget - 2) // per_bucket)  # fits even if no two extremes coincide
        high = max(low, (budget - 2) // 2)  # every bucket keeps at least one point
        keep = _bucket_extremes(s, metrics, low)
        while low < high:
            middle = (low + high + 1) // 2
            candidate = _bucket_extremes(s, metrics, middle)
            if len(candidate) <= budget:
                low, keep = middle, candidate
            else:
                high = middle - 1
        columns = {name: values[keep] for name, values in s.columns.items()}
        out.append(Series(s.experiment_id, s.seed, s.phase, columns))
    return out


def _bucket_extremes(s: Series, metrics: Sequence[str], buckets: int) -> np.ndarray:
    """Sorted indices of the first and last point and of each bucket's first minimum and first
    maximum of every metric (NaN: not measured, never an extreme). All metrics at once: a few
    reduceat passes over an (n, metrics) array, no Python loop over points or buckets."""
    n = len(s)
    starts = np.arange(buckets, dtype=np.int64) * n // buckets  # strictly increasing: buckets < n
    bucket = np.repeat(np.arange(buckets), np.diff(np.append(starts, n)))  # (n,) bucket of a point
    values = np.column_stack([s.columns[name] for name in metrics])  # (n, M)
    finite = ~np.isnan(values)
    position = np.broadcast_to(np.arange(n)[:, None], values.shape)  # (n, M)
    kept = [np.array([0, n - 1])]
    for fill, reduce in ((np.inf, np.minimum), (-np.inf, np.maximum)):
        filled = np.where(finite, values, fill)
        extreme = reduce.reduceat(filled, starts, axis=0)  # (buckets, M)
        hit = finite & (filled == extreme[bucket])  # (n, M)
        first = np.minimum.reduceat(np.where(hit, position, n), starts, axis=0)  # (buckets, M)
        kept.append(first[first < n])  # n: a bucket where the metric was never measured
    return np.unique(np.concatenate(kept))
