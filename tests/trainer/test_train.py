"""run(): determinism, seed independence, resume, cancel, divergence, what gets reported."""

import math

import pytest

from trainer import checkpoint, spec, train
from trainer.results import METRICS


class Recorder:
    def __init__(self, stop_after_evals=None):
        self.points, self.states, self.stop_after_evals = [], [], stop_after_evals

    def on_eval(self, point):
        self.points.append(point)

    def should_stop(self):
        return self.stop_after_evals is not None and len(self.points) >= self.stop_after_evals

    def on_checkpoint(self, state):
        self.states.append(state)


def make(**changes):
    value = {
        "d": 16,
        "target": "h3",
        "model": {"width": 8, "activation": {"hermite": {3: 1.0}}, "second_layer_scale": 0.1},
        "phase1": {
            "algorithm": "reuse",
            "stages": [
                {"samples": "20*d", "lr": "0.5/d", "inner_lr": "1/d"},
                {"samples": "10*d", "lr": "0.1/d", "inner_lr": 0},
            ],
        },
        "phase2": {"samples": 400},
        "eval": {"test_samples": 256, "points": 8, "every": "4*d"},
        "seeds": 3,
        "dtype": "float64",
    }
    value.update(changes)
    return spec.load(value)


def numbers(result):
    """Everything numeric a run reports about its seeds."""
    return [
        (
            s.seed,
            s.weak_recovery_samples,
            s.final_mean_abs_m,
            s.final_median_abs_m,
            s.final_max_abs_m,
            s.final_frac_m_09,
            s.test_mse,
            s.phase2_ridge,
            s.first_passage_samples,
            s.held_recovery_samples,
        )
        for s in result.seeds
    ]


def test_a_run_reports_every_metric_from_start_to_end_then_phase2():
    rec = Recorder()
    result = train.run(make(), device="cpu", callbacks=rec)
    assert result.status == "completed"
    assert result.samples == 30 * 16 and result.steps == 30 * 16
    phase1 = [p for p in rec.points if p.phase == "phase1"]
    assert phase1[0].step == 0 and phase1[-1].step == result.steps
    assert [p.samples for p in phase1] == sorted({p.samples for p in phase1})
    assert {64, 128, 192, 256} <= {p.samples for p in phase1}  # eval.every = 4d
    assert set(phase1[1].metrics) == set(METRICS)
    assert phase1[1].metrics["test_mse"] == [None] * 3  # the second layer is not trained
    assert all(v is not None for v in phase1[1].metrics["train_loss"])
    (last,) = [p for p in rec.points if p.phase == "phase2"]
    assert last.samples == result.samples + 400
    assert all(s.test_mse is not None and s.phase2_ridge is not None for s in result.seeds)
    assert result.device == "cpu" and result.samples_per_second > 0
    assert result.extra["fast_path"] is True


def test_same_spec_same_numbers():
    assert numbers(train.run(make(), device="cpu")) == numbers(train.run(make(), device="cpu"))


WIDE = {"width": 32, "activation": {"hermite": {3: 1.0}}, "second_layer_scale": 0.1}
SEED_INDEPENDENCE_CASES = {
    "reuse_b1_narrow": {},  # B = 1, N = 8: W moved at every sample
    "reuse_b1_wide": {"model": WIDE},  # B = 1, N = 32: through the chunk's Gram matrix
    "online_b16": {
        "phase1": {
            "algorithm": "online",
            "batch_size": 16,  # the large-batch path
            "stages": [{"samples": "40*d", "lr": "0.5/d"}],
        }
    },
    "reuse_b32_blas": {
        "d": 64,
        "model": WIDE,  # large-batch path, products big enough for BLAS
        "phase1": {
            "algorithm": "reuse",
            "batch_size": 32,
            "stages": [{"samples": "4*d", "lr": "0.5/d", "inner_lr": "1/d"}],
        },
    },
    "multipass_b16": {
        "phase1": {
            "algorithm": "multipass",
            "batch_size": 16,  # reference path
            "passes": 2,
            "stages": [{"samples": "20*d", "lr": "0.5/d", "inner_lr": "0.2/d"}],
        }
    },
}


@pytest.mark.parametrize("case", SEED_INDEPENDENCE_CASES)
def test_a_seed_gives_the_same_numbers_alone_or_among_others(case):
    changes = SEED_INDEPENDENCE_CASES[case]
    alone = train.run(make(seeds=[3], **changes), device="cpu")
    among = train.run(make(seeds=[0, 1, 2, 3, 4, 5], **changes), device="cpu")
    assert numbers(alone)[0] == numbers(among)[3]


@pytest.mark.parametrize(
    "phase1",
    [
        None,
        {
            "algorithm": "gd",
            "n": "4*d",
            "train": "all",
            "stages": [{"steps": 40, "lr": "0.5/d"}, {"steps": 20, "lr": "0.1/d"}],
        },
        {
            "algorithm": "multipass",
            "batch_size": 16,
            "passes": 3,
            "stages": [{"samples": "30*d", "lr": "0.5/d", "inner_lr": "0.2/d"}],
        },
    ],
)
def test_resume_from_a_checkpoint_ends_exactly_like_the_uninterrupted_run(phase1):
    sp = make(phase1=phase1) if phase1 else make()
    whole = Recorder()
    reference = train.run(sp, device="cpu", callbacks=whole, checkpoint_every_s=0.0)
    assert len(whole.states) > 3
    state = checkpoint.loads(checkpoint.dumps(whole.states[len(whole.states) // 2]))
    rest = Recorder()
    resumed = train.run(sp, device="cpu", callbacks=rest, resume=state)
    assert numbers(resumed) == numbers(reference)
    assert resumed.samples == reference.samples and resumed.steps == reference.steps
    # the resumed run reports exactly the evaluation points after the checkpoint
    tail = [p for p in whole.points if p.step > state["step"] or p.phase == "phase2"]
    assert [(p.phase, p.step, p.metrics) for p in rest.points] == [
        (p.phase, p.step, p.metrics) for p in tail
    ]


def test_resume_refuses_a_checkpoint_of_another_spec():
    rec = Recorder()
    train.run(make(), device="cpu", callbacks=rec, checkpoint_every_s=0.0)
    with pytest.raises(ValueError, match="another spec"):
        train.run(make(seeds=4), device="cpu", resume=rec.states[0])


def test_should_stop_cancels_the_run():
    rec = Recorder(stop_after_evals=3)
    result = train.run(make(), device="cpu", callbacks=rec)
    assert result.status == "cancelled"
    assert 0 < result.steps < 30 * 16
    assert not any(p.phase == "phase2" for p in rec.points)


def test_a_huge_step_diverges_without_raising():
    sp = make(
        phase1={
            "algorithm": "online",
            "spherical": False,
            "train": "all",
            "stages": [{"samples": "20*d", "lr": 1e6}],
        }
    )
    result = train.run(sp, device="cpu")
    assert result.status == "diverged"
    assert result.message.startswith("diverged at step ")
    assert all(s.diverged_at_step is not None for s in result.seeds)
    assert result.steps < 20 * 16  # stopped once every seed had diverged


def test_training_everything_reports_a_test_error_during_phase1():
    sp = make(
        phase1={
            "algorithm": "online",
            "train": "all",
            "batch_size": 4,
            "stages": [{"samples": "10*d", "lr": "0.5/d"}],
        },
        phase2=None,
    )
    rec = Recorder()
    result = train.run(sp, device="cpu", callbacks=rec)
    assert all(v is not None and math.isfinite(v) for v in rec.points[-1].metrics["test_mse"])
    assert result.seeds[0].test_mse == rec.points[-1].metrics["test_mse"][0]
    assert result.extra["fast_path"] is False
