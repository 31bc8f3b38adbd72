"""run_group: each experiment of a fused group reports exactly what it reports alone."""

import copy

import pytest

from trainer import checkpoint, fused, lanes, spec, train
from trainer.fused import Member


class Recorder:
    def __init__(self, stop_after_evals=None, raise_after_evals=None):
        self.points, self.states = [], []
        self.stop_after, self.raise_after = stop_after_evals, raise_after_evals
        self.progress = []

    def on_eval(self, point):
        self.points.append(point)
        if self.raise_after is not None and len(self.points) >= self.raise_after:
            raise RuntimeError("the database went away")

    def should_stop(self):
        return self.stop_after is not None and len(self.points) >= self.stop_after

    def on_checkpoint(self, state):
        self.states.append(state)

    def on_progress(self, step, samples):
        self.progress.append((step, samples))


BASE = {
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
    "seeds": 2,
    "dtype": "float64",
}


def make(**changes):
    value = copy.deepcopy(BASE)
    for key, change in changes.items():
        if isinstance(change, dict) and isinstance(value.get(key), dict):
            value[key] = {**value[key], **change}
        else:
            value[key] = change
    return spec.load(value)


def stages(*pairs):
    return {"stages": [{"samples": s, "lr": lr, "inner_lr": inner} for s, lr, inner in pairs]}


# A sweep's worth of differences: step sizes, budgets, targets, θ, schedules, thresholds, seeds.
MIXED = [
    make(),
    make(phase1=stages(("20*d", "0.3/d", "2/d"), ("10*d", "0.05/d", 0))),  # same lockstep
    make(phase1=stages(("12*d", "0.5/d", "1/d"), ("30*d", "0.1/d", 0))),  # other stage ends
    make(target={"hermite": {3: 1.0, 4: 1.0}, "noise": 0.1}, seeds=[7, 3, 11]),
    make(target={"hermite": {3: 1.0}, "theta": [1.0] + [0.0] * 15}, eval={"points": 5}),
    make(eval={"weak_recovery_threshold": 0.2, "every": None}, phase2=None),
]


def trace(rec):
    return [(p.phase, p.step, p.samples, p.seeds, p.metrics) for p in rec.points]


def numbers(result):
    return [
        (s.seed, s.weak_recovery_samples, s.weak_recovery_step, s.final_mean_abs_m,
         s.final_median_abs_m, s.final_max_abs_m, s.final_frac_m_09, s.test_mse,
         s.phase2_ridge, s.diverged_at_step)
        for s in result.seeds
    ] + [result.status, result.message, result.samples, result.steps]  # fmt: skip


def alone(sp, **kw):
    rec = Recorder(**kw)
    return numbers(train.run(sp, device="cpu", callbacks=rec)), trace(rec)


def fused_group(specs, recorders=None):
    recorders = recorders or [Recorder() for _ in specs]
    members = [Member(sp, rec) for sp, rec in zip(specs, recorders, strict=True)]
    outcomes = fused.run_group(members, device="cpu")
    return outcomes, recorders


def assert_each_as_alone(specs, outcomes, recorders, skip=()):
    for i, (sp, outcome, rec) in enumerate(zip(specs, outcomes, recorders, strict=True)):
        if i in skip:
            continue
        assert (numbers(outcome), trace(rec)) == alone(sp), f"member {i} differs from alone"


def test_the_mixed_sweep_shares_one_shape_key_and_splits_into_lockstep_cohorts():
    assert len({lanes.shape_key(sp) for sp in MIXED}) == 1
    assert len({lanes.lockstep_key(sp) for sp in MIXED}) == 4
    assert lanes.shape_key(make(d=32)) != lanes.shape_key(MIXED[0])
    assert lanes.shape_key(make(model={"width": 16})) != lanes.shape_key(MIXED[0])


def test_every_member_of_a_mixed_group_reports_exactly_what_it_reports_alone():
    outcomes, recorders = fused_group(MIXED)
    assert all(o.status == "completed" for o in outcomes)
    assert_each_as_alone(MIXED, outcomes, recorders)


WIDE = {"width": 32, "activation": {"random_hermite": {"min_degree": 1, "max_degree": 4}}}
PATHS = {
    "b1_wide_random_hermite": [
        make(model=WIDE),
        make(model=WIDE, phase1=stages(("20*d", "0.2/d", "1/d"), ("10*d", "0.3/d", 0))),
    ],
    "online_large_batch": [
        make(
            phase1={
                "algorithm": "online",
                "batch_size": 16,
                "stages": [{"samples": f"{k}*d", "lr": f"{lr}/d"}],
            }
        )
        for k, lr in ((40, 0.5), (40, 0.2), (24, 0.5))
    ],
    "multipass_reference": [
        make(
            phase1={
                "algorithm": "multipass",
                "batch_size": 16,
                "passes": 2,
                "stages": [{"samples": "20*d", "lr": f"{lr}/d", "inner_lr": "0.2/d"}],
            }
        )
        for lr in (0.5, 0.3)
    ],
    "gd_train_all": [
        make(
            phase1={
                "algorithm": "gd",
                "n": "4*d",
                "train": "all",
                "stages": [{"steps": steps, "lr": f"{lr}/d"}],
            }
        )
        for steps, lr in ((40, 0.5), (40, 0.2), (25, 0.5))
    ],
    "interpolate": [
        make(
            phase1={
                "algorithm": "reuse",
                "reuse_variant": "interpolate",
                "stages": [{"samples": "20*d", "lr": f"{lr}/d", "inner_lr": "1/d"}],
            }
        )
        for lr in (0.5, 0.25)
    ],
}


@pytest.mark.parametrize("case", PATHS)
def test_fused_equals_alone_on_every_update_path(case):
    specs = PATHS[case]
    assert len({lanes.shape_key(sp) for sp in specs}) == 1
    outcomes, recorders = fused_group(specs)
    assert_each_as_alone(specs, outcomes, recorders)


def test_a_member_that_raises_or_is_cancelled_leaves_and_the_others_go_on():
    recorders = [
        Recorder(raise_after_evals=3),
        Recorder(stop_after_evals=4),
        Recorder(),
        Recorder(),
    ]
    outcomes, recorders = fused_group(MIXED[:4], recorders)
    assert isinstance(outcomes[0], RuntimeError)
    assert outcomes[1].status == "cancelled" and outcomes[1].steps < 30 * 16
    assert outcomes[1] != alone(MIXED[1])
    assert_each_as_alone(MIXED[:4], outcomes, recorders, skip=(0, 1))
    assert numbers(outcomes[1]), trace(recorders[1]) == alone(MIXED[1], stop_after_evals=4)


def test_a_member_that_diverges_leaves_and_the_others_go_on():
    # a step that overflows float32 (spherical, clipped steps keep smaller ones finite)
    huge = make(phase1=stages(("20*d", 1e38, "1/d"), ("10*d", "0.1/d", 0)), dtype="float32")
    specs = [make(dtype="float32"), huge, make(dtype="float32", seeds=[5])]
    outcomes, recorders = fused_group(specs)
    assert outcomes[1].status == "diverged", outcomes[1].message
    assert outcomes[1].steps < 30 * 16
    assert_each_as_alone(specs, outcomes, recorders)


def test_a_member_resumed_from_its_checkpoint_beside_fresh_ones_ends_as_uninterrupted():
    whole = Recorder()
    reference = train.run(MIXED[0], device="cpu", callbacks=whole, checkpoint_every_s=0.0)
    state = checkpoint.loads(checkpoint.dumps(whole.states[len(whole.states) // 2]))
    recorders = [Recorder() for _ in range(3)]
    members = [
        Member(MIXED[0], recorders[0], state),
        Member(MIXED[1], recorders[1]),
        Member(MIXED[2], recorders[2]),
    ]
    outcomes = fused.run_group(members, device="cpu", checkpoint_every_s=0.0)
    assert numbers(outcomes[0]) == numbers(reference)
    tail = [p for p in whole.points if p.step > state["step"] or p.phase == "phase2"]
    assert trace(recorders[0]) == trace(Recorder()) + [
        (p.phase, p.step, p.samples, p.seeds, p.metrics) for p in tail
    ]
    assert_each_as_alone(MIXED[1:3], outcomes[1:], recorders[1:])
    # every member checkpoints on its own, and its checkpoint resumes it alone
    assert all(rec.states for rec in recorders)
    mid = recorders[1].states[len(recorders[1].states) // 2]
    assert numbers(train.run(MIXED[1], device="cpu", resume=mid)) == numbers(outcomes[1])


def test_a_bad_resume_state_fails_only_its_member():
    rec = Recorder()
    train.run(MIXED[0], device="cpu", callbacks=rec, checkpoint_every_s=0.0)
    members = [Member(MIXED[1], Recorder(), rec.states[0]), Member(MIXED[0], Recorder())]
    outcomes = fused.run_group(members, device="cpu")
    assert isinstance(outcomes[0], ValueError) and "another spec" in str(outcomes[0])
    assert numbers(outcomes[1]) == alone(MIXED[0])[0]


def test_members_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="shape keys"):
        fused.run_group([Member(MIXED[0]), Member(make(d=32))], device="cpu")


def test_progress_is_reported_between_evaluations():
    rec = Recorder()
    train.run(MIXED[0], device="cpu", callbacks=rec)
    assert rec.progress and rec.progress == sorted(rec.progress)
    assert all(samples == step for step, samples in rec.progress)  # B = 1
