"""api.aggregate: known statistics, trace aggregation, scaling fits, CSV."""

import csv
import io
import math

import numpy as np
import pytest

from api.aggregate import (
    aggregate_trace,
    get_path,
    scaling_fit,
    summarize,
    to_csv,
)


# ------------------------------------------------------------------------------------ summarize
def test_summarize_known_values():
    s = summarize([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert s["n"] == 8 and s["n_missing"] == 0
    assert s["mean"] == pytest.approx(5.0)
    assert s["std"] == pytest.approx(math.sqrt(32 / 7))  # sample std, ddof = 1
    half = 2.364624 * math.sqrt(32 / 7) / math.sqrt(8)  # t_{0.975, 7}
    assert s["ci95_low"] == pytest.approx(5.0 - half, rel=1e-5)
    assert s["ci95_high"] == pytest.approx(5.0 + half, rel=1e-5)


def test_summarize_counts_missing_values_and_excludes_them():
    s = summarize([1.0, None, 3.0, float("nan"), float("inf")])
    assert s["n"] == 2 and s["n_missing"] == 3
    assert s["mean"] == pytest.approx(2.0)
    assert s["std"] == pytest.approx(math.sqrt(2))
    half = 12.706205 * math.sqrt(2) / math.sqrt(2)
    assert s["ci95_high"] - s["mean"] == pytest.approx(half, rel=1e-6)


def test_summarize_one_and_zero_values():
    one = summarize([0.3])
    assert one == {
        "mean": 0.3,
        "std": None,
        "ci95_low": None,
        "ci95_high": None,
        "n": 1,
        "n_missing": 0,
    }
    none = summarize([None, None])
    assert none["mean"] is None and none["n"] == 0 and none["n_missing"] == 2
    assert summarize([])["n"] == 0


def test_the_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(2000):
        s = summarize(rng.normal(3.0, 2.0, size=5).tolist())
        covered += s["ci95_low"] <= 3.0 <= s["ci95_high"]
    assert 0.93 <= covered / 2000 <= 0.97


def test_get_path_prefers_a_literal_key():
    assert get_path({"a.b": 1, "a": {"b": 2}}, "a.b") == 1
    assert get_path({"a": {"b": 2}}, "a.b") == 2
    assert get_path({"a": {"b": 2}}, "a.c") is None


# ------------------------------------------------------------------------------ aggregate_trace
def _trace():
    points = []
    for experiment in (1, 2):
        for seed in range(3):
            for step in (0, 1, 2, 4):
                points.append(
                    {
                        "experiment_id": experiment,
                        "seed": seed,
                        "phase": "phase1",
                        "step": step,
                        "samples": 8 * step,
                        "median_abs_m": 0.1 * step + 0.01 * seed + experiment,
                    }
                )
            points.append(
                {
                    "experiment_id": experiment,
                    "seed": seed,
                    "phase": "phase2",
                    "step": 4,
                    "samples": 32,
                    "median_abs_m": None,
                }
            )
    return points


def test_aggregate_trace_per_evaluation_point():
    summary = aggregate_trace(list(reversed(_trace())), "median_abs_m")
    assert [(s["phase"], s["step"]) for s in summary] == [
        ("phase1", 0),
        ("phase1", 1),
        ("phase1", 2),
        ("phase1", 4),
        ("phase2", 4),
    ]
    at2 = summary[2]
    values = [0.2 + 0.01 * seed + e for e in (1, 2) for seed in range(3)]
    assert at2["samples"] == 16
    assert at2["n"] == 6 and at2["n_missing"] == 0
    assert at2["mean"] == pytest.approx(np.mean(values))
    assert at2["median"] == pytest.approx(np.median(values))
    assert at2["std"] == pytest.approx(np.std(values, ddof=1))
    assert at2["ci95_low"] < at2["mean"] < at2["ci95_high"]
    phase2 = summary[-1]
    assert phase2["n"] == 0 and phase2["n_missing"] == 6 and phase2["median"] is None


def test_aggregate_trace_of_nothing():
    assert aggregate_trace([], "median_abs_m") == []


# ---------------------------------------------------------------------------------- scaling_fit
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


# ------------------------------------------------------------------------------------------ CSV
def test_to_csv_round_trips_through_the_csv_reader():
    rows = [
        {
            "id": 1,
            "name": 'a "quoted", name',
            "test_mse": {"mean": 0.1 + 0.2, "n": 3},
            "tags": ["x", "y"],
            "done": True,
        },
        {
            "id": 2,
            "name": '=HYPERLINK("http://evil")',
            "test_mse": {"mean": None},
            "tags": [],
            "done": False,
        },
        {"id": 3, "name": "-5", "test_mse": {"mean": float("nan")}},
    ]
    text = to_csv(rows, ["id", "name", "test_mse.mean", "test_mse.n", "tags", "done"])
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["id", "name", "test_mse.mean", "test_mse.n", "tags", "done"]
    assert parsed[1] == ["1", 'a "quoted", name', repr(0.1 + 0.2), "3", '["x", "y"]', "true"]
    assert float(parsed[1][2]) == 0.1 + 0.2
    assert parsed[2][1].startswith("'=")  # not run as a formula by a spreadsheet
    assert parsed[2][2:] == ["", "", "[]", "false"]
    assert parsed[3][1] == "-5" and parsed[3][2] == "nan"


def test_to_csv_of_no_rows_is_the_header():
    assert to_csv([], ["a", "b"]) == "a,b\n"
