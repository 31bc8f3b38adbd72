"""The state a run resumes from, and its byte form.

A state is a plain dict of tensors, ints, floats, strings, None, lists and dicts, so that
`torch.load(..., weights_only=True)` reads it back: `trainer.state.RunState.to_checkpoint`, the
fields of RunState plus version and spec_hash.
"""

from __future__ import annotations

import io
from typing import Any

import torch

from trainer.state import READABLE, VERSION

__all__ = ["READABLE", "VERSION", "dumps", "loads"]


def dumps(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    cpu = {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in state.items()}
    torch.save(cpu, buffer)
    return buffer.getvalue()


def loads(data: bytes) -> dict[str, Any]:
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("version") not in READABLE:
        raise ValueError("not a silab checkpoint of this version")
    return state
