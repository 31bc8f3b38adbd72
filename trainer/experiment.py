"""One experiment inside a fused group: what it drew at its start, and what it reports.

`Experiment.start` makes every draw a run makes before training, in a fixed order from each
seed's 'train' stream (θ, the activation's random coefficients, W, a, b, gd's fixed set), then
either keeps the fresh RunState or replaces it by the checkpoint it resumes from. Its lanes then
train inside a cohort (trainer.cohort); `result` turns its final lanes into a Result.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from trainer import algorithms, metrics, model, targets
from trainer.recovery import Criteria, Tracker
from trainer.results import Callbacks, NoCallbacks, Result, RunStatus, SeedResult
from trainer.schedule import Schedule
from trainer.spec import Algorithm, ExperimentSpec, Resolved
from trainer.state import RunState


@dataclass
class Member:
    """One experiment handed to trainer.fused.run_group."""

    spec: ExperimentSpec
    callbacks: Callbacks = field(default_factory=NoCallbacks)
    resume: dict[str, Any] | None = None
    # Seconds of wall-clock time from the member's start in run_group after which it stops
    # (status timed_out); None: the spec's max_wall_s (None there too: no limit). The worker
    # passes the server's effective limit (db.config.LabSettings.wall_limit_s).
    wall_s: float | None = None


@dataclass(eq=False)  # identity: an experiment is one object however its tensors compare
class Experiment:
    spec: ExperimentSpec
    r: Resolved
    callbacks: Callbacks
    target: targets.Target
    act: model.Activation
    fixed: tuple[torch.Tensor, torch.Tensor] | None  # gd's set: x (S, n, d), y (S, n)
    schedule: Schedule
    stage_ends: list[int]
    initial: RunState
    wall_s: float | None = None  # Member.wall_s, resolved
    started: float = field(default_factory=time.perf_counter)
    last_poll: float = field(default_factory=time.perf_counter)
    last_checkpoint: float = field(default_factory=time.perf_counter)
    outcome: Result | BaseException | None = None
    # First passages and held recovery of the experiment's seeds (updated by loop.evaluate).
    recovery: Tracker | None = None
    _test: metrics.TestSet | None = None

    @staticmethod
    def start(member: Member, device: torch.device) -> Experiment:
        spec, r = member.spec, member.spec.resolved()
        kw: dict[str, Any] = {"dtype": dtype_of(spec), "device": device}
        seeds, N, d = spec.seed_list, r.N, spec.d
        gens = targets.generators(seeds, "train", device)
        theta = targets.draw_theta(spec.target.theta, gens, d, **kw)
        target = targets.Target(spec.target.coefficients(), spec.target.noise, theta)
        act = model.make_activation(spec.model.activation, gens, N, **kw)
        W, a, b = model.init_params(
            gens,
            N,
            d,
            second_layer_scale=spec.model.second_layer_scale,
            bias_init=spec.model.bias_init,
            bias_scale=spec.model.bias_scale,
            **kw,
        )
        gd = spec.phase1.algorithm == Algorithm.gd
        fixed = target.sample(gens, r.n) if gd else None  # type: ignore[arg-type]
        S = len(seeds)
        state = RunState(
            seeds, 0, W, a, b, theta, gens,
            torch.zeros(S, dtype=torch.float64, device=device), 0,
            [None] * S, [None] * S, [None] * S, [None] * S, [0.0] * S,
        )  # fmt: skip
        if member.resume is not None:
            state = RunState.from_checkpoint(member.resume, state, spec.spec_hash())
        ends = [sum(stage.steps for stage in r.stages[: i + 1]) for i in range(len(r.stages))]
        schedule = Schedule(r.total_steps, spec.eval.points, r.every, 1 if gd else r.B)
        ev = spec.eval
        tracker = Tracker(Criteria(tuple(ev.thresholds), ev.held_threshold, ev.held_floor), S)
        if member.resume is not None and "recovery" in member.resume:  # older ones lack it
            tracker.load(member.resume["recovery"])
        wall_s = member.wall_s if member.wall_s is not None else spec.max_wall_s
        return Experiment(
            spec, r, member.callbacks, target, act, fixed, schedule, ends, state,
            wall_s=wall_s, recovery=tracker,
        )  # fmt: skip

    @property
    def gd(self) -> bool:
        return self.spec.phase1.algorithm == Algorithm.gd

    @property
    def seeds(self) -> list[int]:
        return self.spec.seed_list

    @property
    def test(self) -> metrics.TestSet:
        if self._test is None:
            device = self.target.theta.device
            self._test = metrics.TestSet(
                self.target, self.seeds, self.spec.eval.test_samples, device
            )
        return self._test

    def samples_at(self, step: int) -> int:
        return self.r.n if self.gd else step * self.r.B  # type: ignore[return-value]

    def checkpoint(self, lanes: RunState) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.started
        state = lanes.to_checkpoint(self.spec.spec_hash())
        state["wall_time_s"] = [w + elapsed for w in lanes.wall_time_s]
        if self.recovery is not None:
            state["recovery"] = self.recovery.state()
        return state


def result_of(
    e: Experiment,
    status: RunStatus,
    lanes: RunState,
    speed: tuple[int, float],
    test_mse: list[float | None] | None = None,
    ridge: list[float | None] | None = None,
    extra: dict[str, Any] | None = None,
) -> Result:
    """The Result from the experiment's final lanes; speed: (steps, compute seconds)."""
    S = len(e.seeds)
    overlap = metrics.overlap_metrics(metrics.overlaps(lanes.W, lanes.theta))
    final = {k: metrics.to_list(v, S) for k, v in overlap.items()}
    test_mse = test_mse or list(lanes.last_test_mse)
    ridge = ridge or [None] * S
    seeds = [
        SeedResult(
            seed=seed,
            weak_recovery_samples=lanes.weak_recovery_samples[s],
            final_mean_abs_m=final["mean_abs_m"][s],
            final_median_abs_m=final["median_abs_m"][s],
            final_max_abs_m=final["max_abs_m"][s],
            final_frac_m_09=final["frac_m_09"][s],
            test_mse=test_mse[s],
            phase2_ridge=ridge[s],
            diverged_at_step=lanes.diverged_at_step[s],
            weak_recovery_step=lanes.weak_recovery_step[s],
            first_passage_samples=e.recovery.seed(s)[0] if e.recovery else {},
            held_recovery_samples=e.recovery.seed(s)[1] if e.recovery else None,
        )
        for s, seed in enumerate(e.seeds)
    ]
    sps = speed[0] * e.r.B / speed[1] if speed[1] > 0 else 0.0  # gd: B is n
    info = {
        "neuron_samples_per_second": sps * S * e.r.N,
        "fast_path": rule_of(e.spec).fast(e.r.B),
        "width": e.r.N,
        "stage_ends": list(e.stage_ends),
        **(extra or {}),
    }
    return Result(
        status=status,
        message=_message(e, status, lanes),
        seeds=seeds,
        samples=e.samples_at(lanes.step),
        steps=lanes.step,
        wall_time_s=lanes.wall_time_s[0] + time.perf_counter() - e.started,
        device=str(lanes.W.device),
        torch_version=torch.__version__,
        samples_per_second=sps if math.isfinite(sps) else 0.0,
        extra=info,
    )


def _message(e: Experiment, status: RunStatus, lanes: RunState) -> str:
    if status is RunStatus.diverged:
        diverged = lanes.diverged_at_step
        first = min(s for s in diverged if s is not None)
        count = sum(s is not None for s in diverged)
        return f"diverged at step {first} ({count} of {len(diverged)} seeds)"
    if status is RunStatus.timed_out:
        samples = e.samples_at(lanes.step)
        return f"wall-clock limit of {e.wall_s:g} s reached after {samples} samples"
    return f"cancelled at step {lanes.step}" if status is RunStatus.cancelled else ""


def dtype_of(spec: ExperimentSpec) -> torch.dtype:
    return torch.float64 if spec.dtype == "float64" else torch.float32


def rule_of(spec: ExperimentSpec) -> algorithms.UpdateRule:
    p1 = spec.phase1
    return algorithms.UpdateRule(
        p1.algorithm,
        p1.reuse_variant,
        p1.passes,
        p1.spherical,
        p1.train,
        spec.model.second_layer_scale,
        p1.clip,
    )
