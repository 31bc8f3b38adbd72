"""Recovery criteria on constructed traces: first passage per threshold and held recovery."""

import pytest
from pydantic import ValidationError

from trainer import recovery, spec, train
from trainer.recovery import Criteria, Tracker

SAMPLES = [0, 10, 20, 30, 40, 50, 60]


def test_first_passage_is_the_first_point_at_or_above_the_threshold():
    trace = [0.1, 0.2, 0.3, 0.29, 0.5, 0.6, 0.7]
    assert recovery.first_passage(SAMPLES, trace, 0.3) == 20
    assert recovery.first_passage(SAMPLES, trace, 0.5) == 40
    assert recovery.first_passage(SAMPLES, trace, 0.8) is None


def test_an_excursion_that_falls_below_the_floor_is_not_held():
    excursion = [0.1, 0.55, 0.25, 0.2, 0.1, 0.15, 0.2]
    assert recovery.first_passage(SAMPLES, excursion, 0.5) == 10
    assert recovery.held(SAMPLES, excursion, 0.5, 0.3) is None


def test_held_recovery_starts_at_the_crossing_after_the_last_drop_below_the_floor():
    trace = [0.1, 0.55, 0.2, 0.4, 0.5, 0.35, 0.6]
    # touches 0.5 at 10, falls to 0.2, crosses again at 40 and stays ≥ 0.3 to the end
    assert recovery.held(SAMPLES, trace, 0.5, 0.3) == 40


def test_dipping_between_floor_and_threshold_keeps_the_recovery():
    trace = [0.1, 0.2, 0.5, 0.31, 0.3, 0.45, 0.4]
    assert recovery.held(SAMPLES, trace, 0.5, 0.3) == 20


def test_a_missing_value_counts_as_below_the_floor():
    trace = [0.1, 0.6, None, 0.6, 0.6, 0.6, 0.6]
    assert recovery.first_passage(SAMPLES, trace, 0.5) == 10
    assert recovery.held(SAMPLES, trace, 0.5, 0.3) == 30


def test_the_tracker_matches_the_trace_functions_per_seed():
    traces = [[0.1, 0.55, 0.2, 0.4, 0.5, 0.35, 0.6], [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]]
    tracker = Tracker(Criteria((0.3, 0.5), 0.5, 0.3), 2)
    for i, n in enumerate(SAMPLES):
        tracker.update(n, [t[i] for t in traces])
    for s, trace in enumerate(traces):
        first, held = tracker.seed(s)
        assert first == {
            "0.3": recovery.first_passage(SAMPLES, trace, 0.3),
            "0.5": recovery.first_passage(SAMPLES, trace, 0.5),
        }
        assert held == recovery.held(SAMPLES, trace, 0.5, 0.3)
    assert tracker.seed(1) == ({"0.3": 0, "0.5": None}, None)


def test_the_tracker_state_round_trips():
    tracker = Tracker(Criteria(), 1)
    tracker.update(5, [0.6])
    again = Tracker(Criteria(), 1)
    again.load(tracker.state())
    again.update(9, [0.7])
    assert again.seed(0) == ({"0.3": 5, "0.5": 5}, 5)


def test_eval_refuses_a_floor_above_the_held_threshold():
    with pytest.raises(ValidationError, match="held_floor"):
        spec.EvalSpec(held_threshold=0.3, held_floor=0.5)
    with pytest.raises(ValidationError, match="thresholds"):
        spec.EvalSpec(thresholds=[0.3, 1.2])


class Points:
    def __init__(self):
        self.points = []

    def on_eval(self, point):
        self.points.append(point)

    def should_stop(self):
        return False

    def on_checkpoint(self, state):
        pass


def test_a_run_reports_the_criteria_of_its_own_trace():
    value = {
        "d": 16,
        "target": "h3",
        "model": {"width": 4, "activation": {"hermite": {3: 6**0.5}}, "second_layer_scale": 1e-6},
        "phase1": {
            "algorithm": "reuse",
            "stages": [{"samples": "40*d", "lr": "0.05/(d*log(d))", "inner_lr": "0.3/d"}],
        },
        "phase2": None,
        "eval": {"test_samples": 64, "points": 8, "every": "d/2", "thresholds": [0.2, 0.4]},
        "seeds": 4,
        "dtype": "float64",
    }
    calls = Points()
    result = train.run(spec.load(value), callbacks=calls)
    samples = [p.samples for p in calls.points]
    assert result.seeds and any(s.held_recovery_samples is not None for s in result.seeds)
    for i, seed in enumerate(result.seeds):
        trace = [p.metrics["median_abs_m"][i] for p in calls.points]
        assert seed.first_passage_samples == {
            "0.2": recovery.first_passage(samples, trace, 0.2),
            "0.4": recovery.first_passage(samples, trace, 0.4),
        }
        assert seed.held_recovery_samples == recovery.held(samples, trace, 0.5, 0.3)
