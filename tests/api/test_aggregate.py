"""api.aggregate: known statistics, trace aggregation."""

import math

import numpy as np
import pytest

from api.aggregate import aggregate_trace, get_path, summarize


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
