"""The student network: its width, activations (relu, tanh, Hermite, random Hermite per
neuron) and initialisation scales."""

from __future__ import annotations

import enum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from trainer.spec.fields import (
    DEGREES_TO_16,
    MAX_COEFFICIENT,
    Coefficient,
    Count,
    Strict,
    check_expr,
    not_above,
)


class HermiteActivation(Strict):
    """σ(z) = Σ_k c_k h_k(z), the same for every neuron."""

    hermite: dict[Annotated[int, Field(ge=0, le=16)], Coefficient] = Field(
        min_length=1,
        description="coefficients c_k keyed by the degree k (0..16)",
        json_schema_extra={"propertyNames": DEGREES_TO_16},
    )


class RandomHermiteActivation(Strict):
    """Per-neuron σ_j(z) = Σ_{k=min..max} c_jk h_k(z), c_jk ~ N(0, 1) drawn from the seed, scaled
    so that Σ_k c_jk² = 1. Gives every neuron the non-zero higher derivatives batch reuse needs."""

    random_hermite: RandomHermiteDegrees


class RandomHermiteDegrees(Strict):
    min_degree: int = Field(1, ge=0, le=16)
    max_degree: int = Field(4, ge=1, le=16)

    @model_validator(mode="after")
    def _ordered(self) -> RandomHermiteDegrees:
        not_above(self.min_degree, self.max_degree, "min_degree must not exceed max_degree")
        return self


RandomHermiteActivation.model_rebuild()


class ActivationKind(enum.StrEnum):
    """The activations σ. A spec names relu and tanh by a string; a hermite or random_hermite
    activation is the mapping of that name to its parameters."""

    relu = "relu"
    tanh = "tanh"
    hermite = "hermite"
    random_hermite = "random_hermite"


Activation = (
    Literal[ActivationKind.relu, ActivationKind.tanh] | HermiteActivation | RandomHermiteActivation
)


class ModelSpec(Strict):
    width: Count = Field(256, description="number of neurons N (a number or an expression in d)")
    activation: Activation = Field(
        ActivationKind.relu,
        description="'relu', 'tanh', {'hermite': {k: c}} or {'random_hermite': {...}}",
    )
    second_layer_scale: float = Field(
        1.0,
        gt=0.0,
        le=MAX_COEFFICIENT,
        description="r_a: a_j = ±r_a with random signs at initialisation",
    )
    bias_init: Literal["zero", "normal", "uniform"] = Field(
        "zero", description="Phase I biases: 0, N(0, bias_scale²) or Unif[−bias_scale, bias_scale]"
    )
    bias_scale: float = Field(1.0, ge=0.0, le=MAX_COEFFICIENT)

    _width = field_validator("width")(classmethod(lambda cls, v: check_expr(v)))
