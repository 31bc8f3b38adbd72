"""Evaluation: the test set, the log-spaced evaluation points and the recovery thresholds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from trainer.spec.fields import Count, Strict, check_expr, not_above


class EvalSpec(Strict):
    test_samples: int = Field(4096, ge=16, le=10_000_000, description="fresh test set size")
    points: int = Field(32, ge=2, le=10_000, description="log-spaced evaluation points in Phase I")
    every: Count | None = Field(
        None, description="also evaluate at a fixed interval of this many samples (gd: steps)"
    )
    weak_recovery_threshold: float = Field(
        0.5,
        gt=0.0,
        lt=1.0,
        description="weak recovery = first evaluated sample count with median_j |m_j| ≥ this",
    )
    thresholds: list[Annotated[float, Field(gt=0.0, lt=1.0)]] = Field(
        default_factory=lambda: [0.3, 0.5],
        min_length=1,
        max_length=16,
        description="first passage: per threshold, the first evaluated sample count with "
        "median_j |m_j| ≥ it (trainer/recovery.py)",
    )
    held_threshold: float = Field(
        0.5,
        gt=0.0,
        lt=1.0,
        description="held recovery: median |m| reached this and never fell below held_floor "
        "afterwards, to the end of Phase I (reconstructed criterion)",
    )
    held_floor: float = Field(
        0.3, ge=0.0, lt=1.0, description="held recovery: the floor median |m| must stay above"
    )
    _every = field_validator("every")(classmethod(lambda cls, v: v if v is None else check_expr(v)))

    @field_validator("thresholds")
    @classmethod
    def _in_order(cls, value: list[float]) -> list[float]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _floor_below(self) -> EvalSpec:
        not_above(self.held_floor, self.held_threshold, "held_floor must not exceed held_threshold")
        return self
