"""The target σ*: its Hermite coefficients (or a shorthand such as "h3"), noise and direction θ."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from trainer import hermite
from trainer.spec.fields import DEGREES_TO_32, Coefficient, Strict

TARGET_PRESETS: dict[str, dict[int, float]] = {
    "h1": {1: 1.0},
    "h2": {2: 1.0},
    "h3": {3: 1.0},
    "h4": {4: 1.0},
    "h5": {5: 1.0},
    "h6": {6: 1.0},
    "h3+h4": {3: 1.0, 4: 1.0},
    "h2+h4": {2: 1.0, 4: 1.0},
}


def target_preset(name: str) -> dict[int, float]:
    """The Hermite coefficients a target shorthand stands for ("h3", "H3 + h4"; spaces and case
    do not matter); ValueError naming the known ones for any other."""
    key = name.replace(" ", "").lower()
    if key not in TARGET_PRESETS:
        raise ValueError(f"unknown target preset {name!r}; known: {', '.join(TARGET_PRESETS)}")
    return dict(TARGET_PRESETS[key])


class TargetSpec(Strict):
    """y = σ*(⟨x, θ⟩) + noise·ξ, ξ ~ N(0, 1), σ* = Σ_k hermite[k] · h_k."""

    hermite: dict[Annotated[int, Field(ge=0, le=32)], Coefficient] = Field(
        min_length=1,
        description="coefficients of σ* on the normalized Hermite polynomials h_k, keyed by k "
        "(0..32; only their ratios matter once normalized); some k ≥ 1 has a non-zero one",
        json_schema_extra={
            "propertyNames": DEGREES_TO_32,
            # Not every non-constant coefficient is ~0 (the schema's form of `_nonzero`).
            "not": {
                "properties": {"0": {}},
                "additionalProperties": {"maximum": 1e-12, "minimum": -1e-12},
            },
        },
    )
    noise: float = Field(
        0.0, ge=0.0, le=1e3, description="standard deviation of additive label noise"
    )
    normalize: bool = Field(True, description="rescale the coefficients so that E[σ*²] = 1")
    theta: (
        Literal["random"]
        | Annotated[
            list[Coefficient],
            Field(
                min_length=1,
                max_length=1_000_000,
                json_schema_extra={"not": {"items": {"maximum": 1e-12, "minimum": -1e-12}}},
            ),
        ]
    ) = Field(
        "random",
        description="the direction θ: 'random' (uniform on the sphere, from the seed) "
        "or an explicit non-zero vector of length d (normalized to unit length)",
    )

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"hermite": target_preset(value)}
        return value

    @field_validator("hermite")
    @classmethod
    def _nonzero(cls, value: dict[int, float]) -> dict[int, float]:
        if math.hypot(*(c for k, c in value.items() if k >= 1)) < 1e-12:
            raise ValueError("the link has no non-constant part: nothing to learn")
        return value

    @field_validator("theta")
    @classmethod
    def _direction(cls, value: Literal["random"] | list[float]) -> Literal["random"] | list[float]:
        # θ is normalized to unit length: a zero (or denormal-sized) vector has no direction.
        if isinstance(value, list) and math.hypot(*value) < 1e-12:
            raise ValueError("θ must be a non-zero vector (it is normalized to unit length)")
        return value

    def coefficients(self) -> dict[int, float]:
        """The coefficients actually used (normalized when `normalize`)."""
        coefficients = {int(k): float(c) for k, c in self.hermite.items()}
        return hermite.normalize(coefficients) if self.normalize else coefficients
