"""Spec validation errors name the field at fault."""

import pydantic
import pytest

from trainer import spec


def base(**changes):
    value = {
        "d": 32,
        "target": "h3",
        "phase1": {
            "algorithm": "reuse",
            "stages": [{"samples": "10*d", "lr": 0.01, "inner_lr": "0.3/d"}],
        },
    }
    value.update(changes)
    return value


def error_text(value) -> str:
    with pytest.raises(pydantic.ValidationError) as info:
        spec.load(value)
    return str(info.value)


def test_a_valid_spec_resolves_expressions():
    resolved = spec.load(base()).resolved()
    assert resolved.total_samples == 320
    assert resolved.stages[0].inner_lr == pytest.approx(0.3 / 32)


def test_unknown_field_is_named():
    assert "colour" in error_text(base(colour="red"))


def test_negative_dimension_is_named():
    assert "d\n" in error_text(base(d=-4))


def test_stage_without_budget_is_named():
    text = error_text(base(phase1={"algorithm": "online", "stages": [{"lr": 0.1}]}))
    assert "phase1.stages.0" in text and "budget" in text


def test_memory_estimate_over_the_limit_is_refused():
    text = error_text(base(d=100_000, seeds=64, max_memory_gb=1.0))
    assert "memory estimate" in text


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"eval": {"points": 6, "every": 7, "test_samples": 64}},
        {"phase1": {"algorithm": "gd", "n": 64, "stages": [{"steps": 300, "lr": 0.01}]}},
        {"phase2": None, "seeds": 3},
    ],
)
def test_the_trace_point_count_is_what_the_trainer_emits(changes):
    from trainer import train

    value = base(**changes)
    value["model"] = {"width": 4}
    emitted = []

    class Record:
        def on_eval(self, point):
            emitted.extend(point.seeds)

        def should_stop(self):
            return False

        def on_checkpoint(self, state):
            pass

    experiment = spec.load(value)
    train.run(experiment, device="cpu", callbacks=Record())
    assert experiment.facts()["trace_points"] == len(emitted)
