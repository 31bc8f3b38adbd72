"""The state a run resumes from, and its byte form.

A state is a plain dict of tensors, ints, floats, strings, None, lists and dicts, so that
`torch.load(..., weights_only=True)` reads it back. Everything a run draws at its start (θ, the
activation's random coefficients, the initial weights, gd's fixed set) is redrawn from the seeds
on resume; the state holds what changes during training:

    version, spec_hash, seeds, phase ('phase1' | 'phase2'), step (Phase I updates done),
    W (S, N, d), a (S, N), b (S, N), theta (S, d) (a check, not an input),
    train_generators (one ByteTensor state per seed), loss_sum (S,), loss_count,
    weak_recovery_samples, weak_recovery_step, diverged_at_step (lists, one entry per seed),
    wall_time_s (time spent by earlier sessions), samples_per_second_time (Phase I compute time).
"""

from __future__ import annotations

import io
from typing import Any

import torch

VERSION = 1


def dumps(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    cpu = {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in state.items()}
    torch.save(cpu, buffer)
    return buffer.getvalue()


def loads(data: bytes) -> dict[str, Any]:
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise ValueError("not a silab checkpoint of this version")
    return state
