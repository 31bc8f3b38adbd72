"""The wall-clock limit: a run past it stops at the next chunk with status timed_out, says how far
it got, and leaves a checkpoint there; it is per experiment in a fused group, and no part of
what a run computes (spec_hash, shape_key)."""

import copy

import pytest
from pydantic import ValidationError

from trainer import checkpoint, fused, lanes, spec, train
from trainer.fused import Member
from trainer.results import RunStatus

BASE = {
    "d": 16,
    "target": "h3",
    "model": {"width": 8, "activation": {"hermite": {3: 1.0}}},
    "phase1": {
        "algorithm": "reuse",
        "batch_size": 1,
        "stages": [{"samples": "40*d", "lr": "0.05/d", "inner_lr": "0.3/d"}],
    },
    "phase2": {"samples": 200},
    "eval": {"test_samples": 64, "points": 4},
    "seeds": 2,
    "dtype": "float64",
    "device": "cpu",
}
# Far more work than any test waits for: only the limit can end it.
ENDLESS = {
    **BASE,
    "phase1": {
        **BASE["phase1"],
        "stages": [{"samples": "1e12", "lr": "0.05/d", "inner_lr": "0.3/d"}],
    },
}
TINY = 1e-9  # past at the first chunk boundary


class Recorder:
    def __init__(self):
        self.points, self.states = [], []

    def on_eval(self, point):
        self.points.append(point)

    def should_stop(self):
        return False

    def on_checkpoint(self, state):
        self.states.append(state)


def make(data, **changes):
    return spec.load({**copy.deepcopy(data), **changes})


def test_a_run_past_its_limit_stops_with_timed_out_and_says_how_far_it_got():
    rec = Recorder()
    result = train.run(make(ENDLESS, max_wall_s=TINY), callbacks=rec)
    assert result.status is RunStatus.timed_out
    assert 0 < result.samples < 10**12
    reached = f"wall-clock limit of {TINY:g} s reached after {result.samples} samples"
    assert result.message == reached
    assert rec.points and rec.points[0].step == 0  # the trace written so far is the caller's


def test_a_timed_out_run_leaves_a_checkpoint_where_it_stopped_and_resumes_to_the_same_numbers():
    reference = train.run(make(BASE))
    assert reference.status is RunStatus.completed  # no limit: the reference run

    limited = Recorder()
    short = fused.run_group([Member(make(BASE), limited, wall_s=TINY)], device="cpu")[0]
    assert short.status is RunStatus.timed_out
    state = limited.states[-1]
    assert state["step"] == short.steps  # the checkpoint is where it reference

    resumed = train.run(make(BASE), resume=checkpoint.loads(checkpoint.dumps(state)))
    assert resumed.status is RunStatus.completed
    assert [s.final_mean_abs_m for s in resumed.seeds] == [
        s.final_mean_abs_m for s in reference.seeds
    ]
    assert [s.test_mse for s in resumed.seeds] == [s.test_mse for s in reference.seeds]


def test_the_member_limit_overrides_the_spec_one():
    # The worker passes the server's effective limit; the spec's alone is for local runs.
    (result,) = fused.run_group([Member(make(BASE, max_wall_s=TINY), wall_s=3600.0)], "cpu")
    assert result.status is RunStatus.completed


def test_in_a_fused_group_only_the_member_past_its_limit_stops():
    alone = train.run(make(BASE, seeds=[5, 6]))
    members = [
        Member(make(ENDLESS, max_wall_s=TINY)),
        Member(make(BASE, seeds=[5, 6], max_wall_s=3600.0)),
    ]
    limited, other = fused.run_group(members, device="cpu")
    assert limited.status is RunStatus.timed_out
    assert other.status is RunStatus.completed
    assert [s.final_mean_abs_m for s in other.seeds] == [s.final_mean_abs_m for s in alone.seeds]


def test_the_limit_is_not_part_of_what_a_run_computes():
    plain, limited = make(BASE), make(BASE, max_wall_s=60.0)
    assert plain.spec_hash() == limited.spec_hash()
    assert lanes.shape_key(plain) == lanes.shape_key(limited)
    assert plain.model_dump()["max_wall_s"] is None  # a spec without one asks the server's


@pytest.mark.parametrize("value", [0, -1.0, float("inf"), float("nan"), 1e12])
def test_a_limit_must_be_a_positive_finite_number_of_seconds(value):
    with pytest.raises(ValidationError) as error:
        make(BASE, max_wall_s=value)
    assert error.value.errors()[0]["loc"][0] == "max_wall_s"


# Phase I of one step (one chunk, which ends it as completed before any limit is checked), then
# a Phase II far longer than any test waits for: only a limit checked inside Phase II ends it.
ONE_STEP_THEN_LONG_PHASE2 = {
    **BASE,
    "phase1": {**BASE["phase1"], "stages": [{"steps": 1, "lr": "0.05/d", "inner_lr": "0.3/d"}]},
    "phase2": {"samples": 10**12},
}


def test_a_limit_that_passes_in_phase_2_stops_it_at_its_next_chunk():
    rec = Recorder()
    (result,) = fused.run_group([Member(make(ONE_STEP_THEN_LONG_PHASE2), rec, wall_s=TINY)], "cpu")
    assert result.status is RunStatus.timed_out
    assert result.steps == 1 and result.extra["phase2_samples_done"] < 10**12
    assert result.message.startswith(f"wall-clock limit of {TINY:g} s reached after 1 samples")
    assert "in Phase II" in result.message
    assert all(point.phase == "phase1" for point in rec.points)  # no Phase II point: no fit


def test_a_phase_2_deadline_far_away_changes_no_number():
    reference = train.run(make(BASE))
    (limited,) = fused.run_group([Member(make(BASE), wall_s=3600.0)], "cpu")
    assert limited.status is RunStatus.completed
    assert [s.test_mse for s in limited.seeds] == [s.test_mse for s in reference.seeds]
    assert [s.phase2_ridge for s in limited.seeds] == [s.phase2_ridge for s in reference.seeds]
