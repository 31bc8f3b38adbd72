"""Kaplan–Meier quantiles and the censoring-aware scaling fit (api/survival.py)."""

import math

import pytest

from api import survival

# scipy.stats.ecdf's documented right-censored example (fanbelts, thousands of miles): its
# survival function is 1, 1, .875, .75, .75, .75, .75, .5, .25, 0 at 37, 43, … 81.
BROKEN = [77, 47, 81, 56, 80]
UNBROKEN = [62, 60, 43, 71, 37]


def test_kaplan_meier_quantiles_on_scipys_documented_example():
    times = [*BROKEN, *([None] * len(UNBROKEN))]
    km = survival.kaplan_meier(times, [0] * len(BROKEN) + UNBROKEN)
    assert (km.n, km.censored) == (10, 5)
    assert (km.q25, km.median, km.q75) == (56.0, 77.0, 80.0)


def test_censored_seeds_count_against_the_median_instead_of_being_dropped():
    km = survival.kaplan_meier([10, 20, None, None, None], [100] * 5)
    assert km.censored == 3 and km.median is None and km.q25 == 20.0
    dropped = survival.kaplan_meier([10, 20], [100, 100])
    assert dropped.median == 10.0  # what leaving the failures out would have claimed


def test_all_censored_has_no_quantile():
    assert survival.kaplan_meier([None, None], [5, 5]) == survival.KaplanMeier(
        2, 2, None, None, None
    )


def test_scaling_fit_recovers_the_exponent_with_an_interval():
    groups = []
    for d in (64, 128, 256, 512):
        times = [d**1.5 * (1 + 0.1 * k) for k in range(-5, 6)] + [None]
        groups.append((d, times, [10 * d**1.5] * len(times)))
    fit = survival.scaling_fit(groups, resamples=200)
    assert fit.b == pytest.approx(1.5, abs=1e-9)
    assert fit.ci95 is not None and fit.ci95[0] <= 1.5 <= fit.ci95[1]
    assert fit.ci95[1] - fit.ci95[0] < 0.5
    assert math.isclose(fit.medians[0], 64**1.5)


def test_scaling_fit_refuses_a_d_whose_median_is_censored():
    groups = [(64, [1, 2, 3], [9, 9, 9]), (128, [4, None, None], [9, 9, 9])]
    with pytest.raises(survival.CensoredMedian, match=r"d = 128.*2 of 3 seeds"):
        survival.scaling_fit(groups)
