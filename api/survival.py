"""Censoring-aware statistics of recovery times: Kaplan–Meier quantiles and a bootstrap scaling
fit. Numbers in, numbers out (no database).

A seed that never recovered is right-censored at its budget (the samples it ran), never dropped:
dropping it would make a method that fails often look fast. Quantiles come from
scipy.stats.ecdf on scipy.stats.CensoredData (the Kaplan–Meier estimate); the q-quantile is the
smallest time t with F(t) ≥ q, None ("censored") when F stays below q up to the last time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

from api.scaling_fit import bootstrap_slope, log_slope

BOOTSTRAP_RESAMPLES = 1000


@dataclass(frozen=True)
class KaplanMeier:
    n: int
    censored: int
    median: float | None
    q25: float | None
    q75: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quantile(cdf: Any, q: float) -> float | None:
    reached = np.nonzero(cdf.probabilities >= q - 1e-12)[0]
    return float(cdf.quantiles[reached[0]]) if reached.size else None


def kaplan_meier(times: Sequence[float | None], budgets: Sequence[float]) -> KaplanMeier:
    """KM quartiles of per-seed recovery times; times[i] None = censored at budgets[i]."""
    events = [float(t) for t in times if t is not None]
    right = [float(b) for t, b in zip(times, budgets, strict=True) if t is None]
    if not events:  # nothing observed: every quantile is censored
        return KaplanMeier(len(right), len(right), None, None, None)
    cdf = stats.ecdf(stats.CensoredData(uncensored=events, right=right)).cdf
    return KaplanMeier(
        len(events) + len(right),
        len(right),
        _quantile(cdf, 0.5),
        _quantile(cdf, 0.25),
        _quantile(cdf, 0.75),
    )


class CensoredMedian(ValueError):
    """A d whose Kaplan–Meier median is censored cannot enter a scaling fit."""


@dataclass(frozen=True)
class ScalingFit:
    """samples ≈ e^a · d^b fitted to the KM medians; b's 95% percentile bootstrap interval over
    seeds (seeds resampled with replacement within each d; resamples in which some median is
    censored are left out and counted)."""

    b: float
    a: float
    ci95: tuple[float, float] | None
    d: list[float]
    medians: list[float]
    resamples: int
    resamples_censored: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scaling_fit(
    groups: Sequence[tuple[float, Sequence[float | None], Sequence[float]]],
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> ScalingFit:
    """groups: (d, times, budgets) per d. Raises CensoredMedian naming the first d whose median
    is censored, ValueError with fewer than two d."""
    groups = sorted(groups, key=lambda g: g[0])
    if len(groups) < 2:
        raise ValueError("a scaling fit needs at least two values of d")
    medians = []
    for d, times, budgets in groups:
        km = kaplan_meier(times, budgets)
        if km.median is None:
            raise CensoredMedian(
                f"d = {d:g}: the median is censored ({km.censored} of {km.n} seeds never "
                "recovered within their budget); raise the budget or leave this d out"
            )
        medians.append(km.median)
    ds = [float(g[0]) for g in groups]
    b, a = log_slope(ds, medians)

    def draw(rng: np.random.Generator) -> list[float | None]:
        sample: list[float | None] = []
        for _, times, budgets in groups:
            pick = rng.integers(0, len(times), len(times))
            sample.append(kaplan_meier([times[i] for i in pick], [budgets[i] for i in pick]).median)
            if sample[-1] is None:
                break  # this replicate is censored: the later d need not be drawn
        return sample

    ci, censored = bootstrap_slope(ds, draw, resamples)
    return ScalingFit(b, a, ci, ds, medians, resamples, censored)


def finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
