"""`RunState`: everything Phase I changes, for a set of lanes (seeds). It IS the checkpoint.

A checkpoint is `state.to_checkpoint(spec_hash)`: the dataclass's own fields (no list of names
kept by hand), plus the version and the spec hash it belongs to. Adding a field to RunState adds
it to the checkpoint, to `take` (compaction: keep some lanes) and to `cat` (fuse several
experiments' lanes into one program) at once.

Field kinds, told apart by their value: a tensor is per lane along dim 0; a list holds one entry
per lane; an int or float is shared by every lane of a lockstep cohort (trainer.lanes).
Everything a run draws at its start (θ, the activation's random coefficients, the initial
weights, gd's fixed set) is redrawn from the seeds on resume; θ is kept here only as a check.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

import torch

VERSION = 2
# Versions `from_checkpoint` reads: 1 kept wall_time_s as one number for all lanes.
READABLE = (1, 2)


@dataclass
class RunState:
    seeds: list[int]
    step: int  # Phase I updates done
    W: torch.Tensor  # (S, N, d)
    a: torch.Tensor  # (S, N)
    b: torch.Tensor  # (S, N)
    theta: torch.Tensor  # (S, d), a check, not an input
    train_generators: list[torch.Generator]
    loss_sum: torch.Tensor  # (S,) float64: squared residuals since the last evaluation
    loss_count: int
    weak_recovery_samples: list[int | None]
    weak_recovery_step: list[int | None]
    diverged_at_step: list[int | None]
    last_test_mse: list[float | None]
    wall_time_s: list[float]  # time spent by earlier sessions, per lane
    phase: str = "phase1"

    @property
    def params(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.W, self.a, self.b

    def take(self, lanes: list[int]) -> RunState:
        """The state of the given lanes only (lane order as given)."""
        index = torch.tensor(lanes, dtype=torch.long, device=self.W.device)
        changes: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                changes[f.name] = value.index_select(0, index)
            elif isinstance(value, list):
                changes[f.name] = [value[i] for i in lanes]
        return dataclasses.replace(self, **changes)

    @staticmethod
    def cat(states: list[RunState]) -> RunState:
        """The lanes of several states side by side; shared fields must agree."""
        if len(states) == 1:
            return states[0]
        changes: dict[str, Any] = {}
        for f in fields(RunState):
            values = [getattr(s, f.name) for s in states]
            if isinstance(values[0], torch.Tensor):
                changes[f.name] = torch.cat(values)
            elif isinstance(values[0], list):
                changes[f.name] = [v for value in values for v in value]
            elif any(v != values[0] for v in values):
                raise ValueError(f"lanes disagree on {f.name}: {values}")
        return dataclasses.replace(states[0], **changes)

    def to_checkpoint(self, spec_hash: str) -> dict[str, Any]:
        out: dict[str, Any] = {"version": VERSION, "spec_hash": spec_hash}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "train_generators":
                value = [g.get_state() for g in value]
            elif isinstance(value, torch.Tensor):
                value = value.clone()
            elif isinstance(value, list):
                value = list(value)
            out[f.name] = value
        return out

    @staticmethod
    def from_checkpoint(state: dict[str, Any], fresh: RunState, spec_hash: str) -> RunState:
        """The checkpointed state, checked against `fresh` (the same lanes drawn from the seeds:
        its generators receive the saved states, its tensors give dtype and device)."""
        if state.get("version") not in READABLE:
            raise ValueError("resume: not a silab checkpoint of this version")
        if not isinstance(state["wall_time_s"], list):  # version 1
            state = {**state, "wall_time_s": [float(state["wall_time_s"])] * len(fresh.seeds)}
        if state["spec_hash"] != spec_hash or list(state["seeds"]) != fresh.seeds:
            raise ValueError("resume: the checkpoint belongs to another spec or seed list")
        kw = {"dtype": fresh.W.dtype, "device": fresh.W.device}
        if not torch.equal(state["theta"].to(**kw), fresh.theta):
            raise ValueError("resume: θ differs from the one drawn from the seeds")
        changes: dict[str, Any] = {}
        for f in fields(fresh):
            current, saved = getattr(fresh, f.name), state[f.name]
            if f.name == "train_generators":
                for g, s in zip(current, saved, strict=True):
                    g.set_state(s)
                continue
            if isinstance(current, torch.Tensor):
                saved = saved.to(dtype=current.dtype, device=current.device)
            changes[f.name] = list(saved) if isinstance(current, list) else saved
        return dataclasses.replace(fresh, **changes)
