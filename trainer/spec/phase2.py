"""Phase II: random biases, frozen W and a ridge fit of the second layer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from trainer.spec.fields import MAX_COEFFICIENT, RidgeCount, Strict, check_expr
from trainer.spec.model import Activation, ActivationKind


class Phase2Spec(Strict):
    """Random biases, frozen W, ridge regression of the second layer on fresh samples."""

    bias_range: float = Field(
        3.0, gt=0.0, le=MAX_COEFFICIENT, description="C_b: b_j ~ Unif[−C_b, C_b]"
    )
    samples: RidgeCount = Field(4000, description="fresh samples for the ridge fit")
    ridge_grid: list[Annotated[float, Field(ge=0.0)]] = Field(
        default_factory=lambda: [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
        min_length=1,
        description="λ values tried; the best on the held-out split is refit on all samples",
    )
    holdout: float = Field(0.2, gt=0.0, lt=1.0, description="fraction held out to choose λ")
    data: Literal["fresh", "phase1"] = Field(
        "fresh",
        description="fresh: `samples` new samples per seed; phase1: gd's fixed set of n "
        "samples, so that Phase II refits the data Phase I trained on and n counts every sample "
        "(gd only; `samples` is then n)",
    )
    activation: Activation | Literal["same"] = Field(
        ActivationKind.relu,
        description="activation of the Phase II features; 'same' keeps Phase I's",
    )
    _samples = field_validator("samples")(classmethod(lambda cls, v: check_expr(v)))
