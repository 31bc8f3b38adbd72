"""api.scaling_fit: power laws recovered, the exponent's interval, too little or bad data."""

import math

import numpy as np
import pytest

from api.scaling_fit import scaling_fit


def test_scaling_fit_recovers_a_linear_law_with_noise():
    rng = np.random.default_rng(7)
    ds, samples = [], []
    for d in (32, 64, 128, 256, 512, 1024):
        for _ in range(10):
            ds.append(d)
            samples.append(5.0 * d * math.exp(rng.normal(0.0, 0.25)))
    samples[3] = None  # one run never recovered
    samples[17] = None
    fit = scaling_fit(ds, samples)
    assert fit["n"] == 58 and fit["n_missing"] == 2
    low, high = fit["exponent_ci95"]
    assert low < 1.0 < high
    assert high - low < 0.2
    assert fit["exponent"] == pytest.approx(1.0, abs=0.1)
    assert fit["prefactor"] == pytest.approx(5.0, rel=0.5)
    assert len(fit["points"]) == 58 and fit["missing"] == [{"d": 32.0}, {"d": 64.0}]
    assert 0.9 < fit["r2"] <= 1.0


def test_scaling_fit_exact_law_and_interval_against_a_hand_computation():
    fit = scaling_fit([2, 4, 8, 16], [3 * 2**2, 3 * 4**2, 3 * 8**2, 3 * 16**2])
    assert fit["exponent"] == pytest.approx(2.0)
    assert fit["prefactor"] == pytest.approx(3.0)
    assert fit["exponent_ci95"] == pytest.approx([2.0, 2.0])
    # Noisy three points: slope se by hand, t_{0.975,1} = 12.706.
    x = np.log([1.0, 2.0, 4.0])
    y = np.log([1.0, 2.5, 3.5])
    slope, intercept = np.polyfit(x, y, 1)
    se = math.sqrt(((y - intercept - slope * x) ** 2).sum() / 1 / ((x - x.mean()) ** 2).sum())
    fit = scaling_fit([1, 2, 4], [1.0, 2.5, 3.5])
    assert fit["exponent"] == pytest.approx(slope)
    assert fit["exponent_se"] == pytest.approx(se)
    assert fit["exponent_ci95"][1] - slope == pytest.approx(12.706205 * se, rel=1e-6)


def test_scaling_fit_with_too_little_data():
    one_d = scaling_fit([64, 64, 64], [10.0, 12.0, None])
    assert one_d["exponent"] is None and one_d["exponent_ci95"] is None
    assert one_d["n"] == 2 and one_d["n_missing"] == 1
    two = scaling_fit([64, 128], [10.0, 20.0])
    assert two["exponent"] == pytest.approx(1.0) and two["exponent_ci95"] is None
    nothing = scaling_fit([64, 128], [None, float("nan")])
    assert nothing["n"] == 0 and nothing["n_missing"] == 2 and nothing["exponent"] is None


def test_scaling_fit_refuses_bad_input():
    with pytest.raises(ValueError):
        scaling_fit([1, 2], [1.0])
    with pytest.raises(ValueError):
        scaling_fit([0, 2], [1.0, 2.0])
