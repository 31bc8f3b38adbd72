"""Phase I: the algorithm (online, reuse, multipass, gd) and its stages of step sizes."""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import JsonDict

from trainer.spec.fields import Count, Rate, Strict, check_expr

NULL: JsonDict = {"type": "null"}


def _given(field: str, *absent: str) -> JsonDict:
    """JSON Schema: `field` is there and not null; each of `absent` is missing or null."""
    return {
        "required": [field],
        "properties": {field: {"not": NULL}, **dict.fromkeys(absent, NULL)},
    }


class Stage(Strict):
    """One stretch of Phase I with constant step sizes; a list of stages anneals them.

    Budget: `samples` counts fresh samples (a minibatch counts once however often it is reused);
    `steps` counts gradient steps of the outer update (for `gd`, full-batch steps). Give one.
    """

    # The schema's form of `_one_budget`.
    model_config = ConfigDict(
        json_schema_extra={"oneOf": [_given("samples", "steps"), _given("steps", "samples")]}
    )

    samples: Count | None = None
    steps: Count | None = None
    lr: Rate = Field(description="outer step γ (mean-field units)")
    inner_lr: Rate | None = Field(
        None,
        description="reuse: inner step η on the same minibatch (ηd = Θ(1) is what matters); "
        "multipass: step of the extra passes (defaults to lr); 0 makes a reuse stage online",
    )

    _exprs = field_validator("samples", "steps", "lr", "inner_lr")(
        classmethod(lambda cls, v: v if v is None else check_expr(v))
    )

    @model_validator(mode="after")
    def _one_budget(self) -> Stage:
        if (self.samples is None) == (self.steps is None):
            raise ValueError("a stage needs exactly one budget: 'samples' or 'steps'")
        return self


class Algorithm(enum.StrEnum):
    """The Phase I algorithms (Phase1Spec.algorithm describes each)."""

    # Its public name. db.models has an Algorithm too, so the OpenAPI document names this one by
    # its module, trainer__spec__Algorithm, as it did before trainer.spec became a package.
    __module__ = "trainer.spec"

    online = "online"
    reuse = "reuse"
    multipass = "multipass"
    gd = "gd"


class Phase1Spec(Strict):
    # The schema's form of `_consistent`, one branch per algorithm (omitted: reuse).
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["algorithm", "n"],
                    "properties": {
                        "algorithm": {"const": Algorithm.gd.value},
                        "n": {"not": NULL},
                        "stages": {"items": {"properties": {"samples": NULL}}},
                        "reuse_variant": {"const": "outer"},
                    },
                },
                {
                    "properties": {
                        "algorithm": {"const": Algorithm.reuse.value},
                        "stages": {"items": _given("inner_lr")},
                    }
                },
                {
                    "required": ["algorithm"],
                    "properties": {
                        "algorithm": {"enum": [Algorithm.online.value, Algorithm.multipass.value]},
                        "reuse_variant": {"const": "outer"},
                    },
                },
            ]
        }
    )

    algorithm: Algorithm = Field(
        Algorithm.reuse,
        description="online: one step per fresh minibatch; reuse: two steps on each fresh "
        "minibatch (inner_lr then lr); multipass: `passes` steps on each fresh minibatch; gd: "
        "full-batch GD on one fixed set of n samples",
    )
    batch_size: Count = Field(1, description="B, fresh samples per minibatch (not used by gd)")
    stages: list[Stage] = Field(min_length=1)
    reuse_variant: Literal["outer", "interpolate"] = Field(
        "outer",
        description="(reconstructed) outer: w ← normalize(w − lr·∇̃L(w')) with "
        "w' = w − inner_lr·∇̃L(w); interpolate: w'' = w' − inner_lr·∇̃L(w'), "
        "w ← normalize((1−ξ)w + ξw'') with ξ = lr/inner_lr",
    )
    passes: int = Field(2, ge=1, le=64, description="multipass: steps on each fresh minibatch")
    n: Count | None = Field(None, description="gd: size of the fixed training set")
    train: Literal["first", "all"] = Field(
        "first", description="first: only W trains (the paper's Phase I); all: W, a and b train"
    )
    spherical: bool = Field(
        True,
        description="project gradients on the tangent space and renormalize w_j after each step",
    )
    clip: float | None = Field(
        1000.0,
        gt=0.0,
        le=1e12,
        description="(reconstructed) per-sample gradient clipping: before every step (inner and "
        "outer), each sample's coefficient c_ij = (f − y_i)·(a_j/r_a)·σ_j'(z_ij), which multiplies "
        "x_i in neuron j's mean-field gradient, is clipped to [−clip, clip]. null: no clipping "
        "(the literal algorithm). Reuse's second gradient y·σ'(z + ηd·y·σ'(z)) is a degree-13 "
        "Gaussian polynomial whose rare huge values randomize w; without clipping the reference "
        "table's reuse column is not flat in d (docs/results/science_notes.md). At 1000, with "
        "f ≈ 0, a He_3 student and target h_3, 0.3% (|m| ≈ 0) to 1.6% (|m| ≈ 0.9) of reuse's outer "
        "steps are clipped and fewer than 4·10⁻⁵ of online steps",
    )
    _exprs = field_validator("batch_size", "n")(
        classmethod(lambda cls, v: v if v is None else check_expr(v))
    )

    @model_validator(mode="after")
    def _consistent(self) -> Phase1Spec:
        if self.algorithm == Algorithm.gd:
            if self.n is None:
                raise ValueError("gd needs 'n', the size of its fixed training set")
            if any(stage.steps is None for stage in self.stages):
                raise ValueError("gd stages are budgeted in 'steps'")
        if self.algorithm == Algorithm.reuse and any(
            stage.inner_lr is None for stage in self.stages
        ):
            raise ValueError("every reuse stage needs 'inner_lr' (0 turns the reuse off)")
        if self.reuse_variant == "interpolate" and self.algorithm != Algorithm.reuse:
            raise ValueError("reuse_variant 'interpolate' applies to algorithm 'reuse' only")
        return self
