"""A cohort: the lanes of experiments that advance through the same chunks, as one program.

The cohort's RunState is its experiments' RunStates side by side (RunState.cat); its activation,
gd's fixed set and per-stage step sizes are stacked the same way, lane by lane. When an
experiment leaves (finished, diverged, cancelled, failed), `compact` drops its lanes from every
tensor, so it costs nothing afterwards.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

import torch

from trainer import algorithms, lanes, model
from trainer.experiment import Experiment, rule_of
from trainer.state import RunState

# Fast path: samples per chunk (the K of algorithms.fast_chunk; cost per step grows with K, the
# matmul overhead per chunk shrinks with it).
FAST_CHUNK_SAMPLES = 64
# Reference path: numbers per seed (samples · d) drawn at once, and at most this many updates.
REFERENCE_CHUNK_NUMBERS = 2**20
REFERENCE_CHUNK_STEPS = 256


@dataclass
class Cohort:
    experiments: list[Experiment]
    state: RunState
    act: model.Activation
    fixed: tuple[torch.Tensor, torch.Tensor] | None
    rates: list[tuple[algorithms.Rate, algorithms.Rate]]  # per stage: (lr, inner_lr) per lane
    rule: algorithms.UpdateRule
    chunk_steps: int
    session_steps: int = 0
    compute_s: float = 0.0

    @property
    def lead(self) -> Experiment:
        """Any experiment of the cohort: they agree on shapes, stage ends and schedule."""
        return self.experiments[0]

    def spans(self) -> list[tuple[Experiment, list[int]]]:
        """Each experiment with the indices of its lanes in the cohort's tensors."""
        out, start = [], 0
        for e in self.experiments:
            out.append((e, list(range(start, start + len(e.seeds)))))
            start += len(e.seeds)
        return out

    def sample(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """count fresh samples per lane, each experiment from its own target and streams:
        x (S, count, d) contiguous (alone or fused, the same layout), y (S, count)."""
        xs, ys = [], []
        gens = self.state.train_generators
        for e, idx in self.spans():
            x, y = e.target.sample(gens[idx[0] : idx[-1] + 1], count)
            xs.append(x)
            ys.append(y)
        return torch.cat(xs).contiguous(), torch.cat(ys).contiguous()

    def compact(self, keep: list[Experiment]) -> None:
        """Keep only the lanes of `keep` (in the cohort's order)."""
        kept = [(e, idx) for e, idx in self.spans() if e in keep]
        index = [i for _, idx in kept for i in idx]
        self.experiments = [e for e, _ in kept]
        if not index:
            return
        self.state = self.state.take(index)
        self.act = _take_act(self.act, index)
        if self.fixed is not None:
            where = torch.tensor(index, device=self.fixed[0].device)
            self.fixed = (
                self.fixed[0].index_select(0, where),
                self.fixed[1].index_select(0, where),
            )
        self.rates = _rates(self.experiments, self.state.W)


def form(experiments: list[Experiment]) -> list[Cohort]:
    """Cohorts of a group: experiments with the same lockstep key and step, in group order."""
    by_key: dict[tuple[str, int], list[Experiment]] = defaultdict(list)
    for e in experiments:
        by_key[(lanes.lockstep_key(e.spec), e.initial.step)].append(e)
    return [_cohort(members) for members in by_key.values()]


def _cohort(experiments: list[Experiment]) -> Cohort:
    lead = experiments[0]
    state = RunState.cat([e.initial for e in experiments])
    act = _cat_act([e.act for e in experiments])
    fixed = None
    if lead.fixed is not None:
        fixed = (
            torch.cat([e.fixed[0] for e in experiments]),  # type: ignore[index]
            torch.cat([e.fixed[1] for e in experiments]),  # type: ignore[index]
        )
    rule = rule_of(lead.spec)
    B, d = lead.r.B, lead.spec.d
    if rule.fast(B):
        chunk = max(1, FAST_CHUNK_SAMPLES // B)
    else:
        per_step = B * d  # gd: B is n
        chunk = max(1, min(REFERENCE_CHUNK_STEPS, REFERENCE_CHUNK_NUMBERS // per_step))
    return Cohort(experiments, state, act, fixed, _rates(experiments, state.W), rule, chunk)


def _rates(
    experiments: list[Experiment], like: torch.Tensor
) -> list[tuple[algorithms.Rate, algorithms.Rate]]:
    """Per stage, (lr, inner_lr) as one number per lane; a zero inner step (every lane agrees,
    by lanes.lockstep_key) stays the number 0.0, which the update reads as 'no inner step'."""
    out: list[tuple[algorithms.Rate, algorithms.Rate]] = []
    for i, stage in enumerate(experiments[0].r.stages):
        lr = [e.r.stages[i].lr for e in experiments for _ in e.seeds]
        inner = [e.r.stages[i].inner_lr for e in experiments for _ in e.seeds]
        lr_t = torch.tensor(lr, dtype=like.dtype, device=like.device)
        inner_t = torch.tensor(inner, dtype=like.dtype, device=like.device)
        out.append((lr_t, 0.0 if stage.inner_lr == 0.0 else inner_t))
    return out


def _cat_act(acts: list[model.Activation]) -> model.Activation:
    """The activations of several experiments as one (per-neuron coefficients stacked)."""
    if acts[0].per_neuron is None:
        return acts[0]  # relu, tanh, or one Hermite combination that lanes.shape_key fixes
    per_neuron = torch.cat([a.per_neuron for a in acts])  # type: ignore[misc]
    return dataclasses.replace(acts[0], per_neuron=per_neuron)


def _take_act(act: model.Activation, index: list[int]) -> model.Activation:
    if act.per_neuron is None:
        return act
    where = torch.tensor(index, device=act.per_neuron.device)
    return dataclasses.replace(act, per_neuron=act.per_neuron.index_select(0, where))
