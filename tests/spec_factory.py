"""Small experiment specs shared by the worker and end-to-end tests."""

from __future__ import annotations

from typing import Any

HE3 = {3: 6**0.5}  # the He_3 student: He_3 = √6·h_3


def small_spec(
    *, steps: int = 64, points: int = 4, every: int | None = None, seeds: int = 2
) -> dict[str, Any]:
    """A d = 16, N = 8 reuse spec of `steps` outer steps (batch 1) and a small Phase II."""
    data: dict[str, Any] = {
        "d": 16,
        "seeds": seeds,
        "target": "h3",
        "model": {"width": 8, "activation": {"hermite": HE3}},
        "phase1": {
            "algorithm": "reuse",
            "batch_size": 1,
            "stages": [{"steps": steps, "inner_lr": "0.3/d", "lr": "0.05/(d*log(d))"}],
        },
        "phase2": {"samples": 200},
        "eval": {"test_samples": 64, "points": points},
        "device": "cpu",
    }
    if every is not None:
        data["eval"]["every"] = every
    return data
