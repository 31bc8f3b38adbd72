"""The experiment spec: one pydantic object describing a whole experiment. Torch-free.

The API validates submissions with this module and the trainer reads nothing else, so every
reconstructed choice of shared/science.md is a field here with its default documented.

Units and conventions (stated once, here):
- Network: f(x) = (1/N) Σ_j a_j σ_j(⟨w_j, x⟩ + b_j), ‖w_j‖ = 1 in Phase I (spherical steps).
- Phase I learning rates are in **mean-field units**: the gradient of the squared loss ½(f − y)²
  with respect to w_j (and b_j) is multiplied by N / r_a before the step, where r_a =
  `model.second_layer_scale` is the magnitude of a_j at initialisation, and the gradient with
  respect to a_j is multiplied by N. So a step `lr` moves each neuron by
  lr · (y − f) · (a_j / r_a) · σ_j'(z_j) · x, whatever N and r_a are: at r_a = 1 this is
  "η·N times the raw gradient" of shared/science.md.
- Numbers written as strings are expressions in d and N (see trainer/expr.py): "0.3/d",
  "0.05/(d*log(d))", "20*d".
"""

from __future__ import annotations

import enum
import functools
import math
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonDict
from pydantic_core import PydanticCustomError

from trainer import expr, hermite
from trainer.canonical import canonical_hash, canonical_json
from trainer.schedule import Schedule

Expr = int | float | str
"""A number or an expression in d and N."""

# A memory estimate above this is refused unless the spec raises `max_memory_gb`.
DEFAULT_MAX_MEMORY_GB = 16.0

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


class Unstated(enum.StrEnum):
    """The `type` of a 422 issue for a rule JSON Schema cannot state, so the OpenAPI document
    cannot carry it (tests/api/test_schemathesis.py accepts exactly these as rejections of
    schema-valid requests). Every other rule is in the schema."""

    cross_field = "cross_field"  # one field's value against another's (θ's length and d)
    expression = "expression"  # an expression's grammar, or its value at the spec's d and N
    # What the addressed resource holds (an axis this sweep does not have), like a 404.
    resource = "resource"


# Largest magnitude of a Hermite coefficient or a θ entry, and largest resolved budget: beyond
# these a float32 run overflows (1e308 made a meaningless `completed` with test_mse 0) and a
# sample count no longer fits a BIGINT or finishes in a lifetime.
MAX_COEFFICIENT = 1e6
MAX_COUNT = 2**53
# JSON numbers are doubles to most readers (the dashboard's JavaScript, schema validators): above
# 2^53 a seed would not survive them, and a bound they read as written keeps the schema honest.
MAX_SEED = 2**53 - 1
# Largest wall-clock limit a spec may ask for (a year): a server's SILAB_MAX_WALL_S caps it lower.
MAX_WALL_S = 365 * 86400.0
# Fields of ExperimentSpec that do not change what a run computes, left out of spec_hash.
_NOT_HASHED = {"max_wall_s"}
# Fields added after specs were stored, hashed only away from their default: a spec written
# before one existed keeps its hash (and its in-flight checkpoints stay valid).
_HASHED_UNLESS_DEFAULT = {("phase2", "data"): "fresh"}


class Strict(BaseModel):
    # allow_inf_nan=False: NaN, Infinity and 1e309 (which JSON parsers read as inf) are refused
    # in every float field with a 422 naming it, instead of a 500 or a database error later.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_expr(value: Expr) -> Expr:
    if isinstance(value, bool):
        raise ValueError("expected a number or an expression in d and N")
    if isinstance(value, str):
        try:
            expr.check(value)
        except ValueError as error:
            raise PydanticCustomError(Unstated.expression.value, str(error)) from None
    return value


# The characters of an expression (trainer/expr.py: numbers, names, + - * / **, parentheses and
# the commas of min/max): the schema says that much; the grammar and the value are Unstated.
Expression = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[0-9A-Za-z_.+*/(), -]+$")
]


# A number within bounds, or an expression (whose value is checked against the same bounds once d
# and N are known, resolve()). Integers stay integers.
EXPR = "a number or an expression in d and N"
# Budgets and sizes: at least 1 (a count rounds to an integer) and at most 2^53.
Count = Annotated[
    Annotated[int, Field(ge=1, le=MAX_COUNT)]
    | Annotated[float, Field(ge=1, le=MAX_COUNT)]
    | Expression,
    Field(description=EXPR),
]
# Phase II's ridge fit needs at least 10 samples.
RidgeCount = Annotated[
    Annotated[int, Field(ge=10, le=MAX_COUNT)]
    | Annotated[float, Field(ge=10, le=MAX_COUNT)]
    | Expression,
    Field(description=EXPR),
]
# Step sizes: at least 0.
Rate = Annotated[
    Annotated[int, Field(ge=0)] | Annotated[float, Field(ge=0)] | Expression,
    Field(description=EXPR),
]


# JSON keys of a Hermite coefficient map: the degrees, written plainly ("3", not "03").
DEGREES_TO_32: JsonDict = {"pattern": r"^([0-9]|[12][0-9]|3[0-2])$"}
DEGREES_TO_16: JsonDict = {"pattern": r"^([0-9]|1[0-6])$"}
Coefficient = Annotated[float, Field(ge=-MAX_COEFFICIENT, le=MAX_COEFFICIENT)]


# ----------------------------------------------------------------------------------------- target
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


# ------------------------------------------------------------------------------------- activation
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
        if self.min_degree > self.max_degree:
            raise PydanticCustomError(
                Unstated.cross_field.value, "min_degree must not exceed max_degree"
            )
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

    _width = field_validator("width")(classmethod(lambda cls, v: _check_expr(v)))


# ---------------------------------------------------------------------------------------- phase I
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
        classmethod(lambda cls, v: v if v is None else _check_expr(v))
    )

    @model_validator(mode="after")
    def _one_budget(self) -> Stage:
        if (self.samples is None) == (self.steps is None):
            raise ValueError("a stage needs exactly one budget: 'samples' or 'steps'")
        return self


class Algorithm(enum.StrEnum):
    """The Phase I algorithms (Phase1Spec.algorithm describes each)."""

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
        classmethod(lambda cls, v: v if v is None else _check_expr(v))
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


# --------------------------------------------------------------------------------------- phase II
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
    _samples = field_validator("samples")(classmethod(lambda cls, v: _check_expr(v)))


# ------------------------------------------------------------------------------------------- eval
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
    _every = field_validator("every")(
        classmethod(lambda cls, v: v if v is None else _check_expr(v))
    )

    @field_validator("thresholds")
    @classmethod
    def _in_order(cls, value: list[float]) -> list[float]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _floor_below(self) -> EvalSpec:
        if self.held_floor > self.held_threshold:
            raise PydanticCustomError(
                Unstated.cross_field.value, "held_floor must not exceed held_threshold"
            )
        return self


# ------------------------------------------------------------------------------------ experiment
# Specs whose _resolvable checks passed, by id, held weakly (an entry goes with its spec): pydantic
# runs after-validators again on an instance it is handed (a bulk submit's items share one spec
# object), and the checks are a pure function of the frozen fields. A private attribute would do
# it too, but pydantic compares those in ==; a copy (model_copy) has another id and is checked.
_CHECKED: weakref.WeakValueDictionary[int, ExperimentSpec] = weakref.WeakValueDictionary()


class ExperimentSpec(Strict):
    # The schema's form of resolve()'s "phase2.data 'phase1' needs gd": Phase II refits Phase I's
    # samples only when there is a fixed set to refit.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "properties": {
                        "phase2": {
                            "not": {
                                "required": ["data"],
                                "properties": {"data": {"const": "phase1"}},
                            }
                        }
                    }
                },
                {
                    "required": ["phase1"],
                    "properties": {
                        "phase1": {
                            "required": ["algorithm"],
                            "properties": {"algorithm": {"const": Algorithm.gd.value}},
                        }
                    },
                },
            ]
        }
    )

    d: int = Field(gt=0, le=1_000_000, description="input dimension")
    target: TargetSpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    phase1: Phase1Spec
    phase2: Phase2Spec | None = Field(default_factory=Phase2Spec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    seeds: (
        Annotated[int, Field(ge=1, le=4096)]
        | Annotated[
            list[Annotated[int, Field(ge=0, le=MAX_SEED)]],
            Field(min_length=1, max_length=4096, json_schema_extra={"uniqueItems": True}),
        ]
    ) = Field(
        1,
        description="number of independent runs (seeds 0..S−1, 1..4096) or an explicit list of "
        "distinct seeds in [0, 2^53); run together as one batched program",
    )
    dtype: Literal["float32", "float64"] = "float32"
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda(:[0-9]+)?|mps)$",
        description="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1', …",
    )
    max_memory_gb: float = Field(
        DEFAULT_MAX_MEMORY_GB, gt=0.0, description="refuse specs whose memory estimate exceeds this"
    )
    max_wall_s: float | None = Field(
        None,
        gt=0.0,
        le=MAX_WALL_S,
        description="stop one attempt of the run after this many seconds of wall-clock time "
        "(it ends failed, its trace and a checkpoint kept); None: the server's limit, which "
        "also caps this (SILAB_MAX_WALL_S)",
    )

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError("seeds must be distinct")
        return value

    @model_validator(mode="after")
    def _resolvable(self) -> ExperimentSpec:
        if _CHECKED.get(id(self)) is self:
            return self
        # Evaluating every expression now turns "0.3/x" or a negative budget into a 422 at
        # submission rather than a failure on a worker an hour later.
        resolved = resolve(self)
        if isinstance(self.target.theta, list) and len(self.target.theta) != self.d:
            raise SpecError(
                "target.theta",
                f"has {len(self.target.theta)} entries but d = {self.d}",
                Unstated.cross_field,
            )
        estimate = memory_estimate_bytes(self, resolved) / 2**30
        if estimate > self.max_memory_gb:
            raise SpecError(
                "max_memory_gb",
                f"= {self.max_memory_gb:g} is below the memory estimate of {estimate:.1f} GiB",
                Unstated.cross_field,
            )
        _CHECKED[id(self)] = self
        return self

    # -------------------------------------------------------------------------------- helpers
    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    def resolved(self) -> Resolved:
        return resolve(self)

    def canonical_json(self) -> str:
        """A stable JSON text of the full spec (defaults included): equal specs, equal texts."""
        return canonical_json(self.model_dump(mode="json"))

    def spec_hash(self) -> str:
        """The hash of what the run computes. `max_wall_s` is left out: it decides when a run
        stops, never a number it computes, and a checkpoint checks this hash, so a run resumes
        under any limit; leaving it out also keeps the hash of every spec written before the
        field existed (and of their in-flight checkpoints) unchanged."""
        data = self.model_dump(mode="json", exclude=_NOT_HASHED)
        for (part, name), default in _HASHED_UNLESS_DEFAULT.items():
            if isinstance(data.get(part), dict) and data[part].get(name) == default:
                del data[part][name]
        return canonical_hash(data)

    def facts(self) -> dict[str, Any]:
        """Derived facts the service shows next to a spec (information exponents, memory)."""
        coefficients = self.target.coefficients()
        resolved = resolve(self)
        return {
            "information_exponent": hermite.information_exponent(coefficients),
            "label_power_exponents": {
                str(k): e for k, e in hermite.label_power_exponents(coefficients).items()
            },
            "reuse_exponent": hermite.reuse_exponent(coefficients),
            "target_degree": hermite.degree(coefficients),
            "seeds": len(self.seed_list),
            "width": resolved.N,
            "memory_estimate_bytes": memory_estimate_bytes(self, resolved),
            "trace_points": trace_points(self, resolved),
            "phase1_samples": resolved.total_samples,
            "phase1_steps": resolved.total_steps,
            "stages": [asdict(stage) for stage in resolved.stages],
        }


# -------------------------------------------------------------------------------- resolved values
@dataclass
class ResolvedStage:
    """A stage with every expression evaluated: `samples` and `steps` both filled in."""

    samples: int
    steps: int
    lr: float
    inner_lr: float


@dataclass
class Resolved:
    """Concrete numbers for one spec: N, B (gd: n), stages, Phase II samples, eval interval."""

    N: int
    B: int
    n: int | None
    stages: list[ResolvedStage]
    phase2_samples: int | None
    every: int | None

    @property
    def total_samples(self) -> int:
        return sum(stage.samples for stage in self.stages)

    @property
    def total_steps(self) -> int:
        return sum(stage.steps for stage in self.stages)


class SpecError(ValueError):
    """A whole-spec check failed at one field: `loc` is its path (("phase1", "stages", 0,
    "lr")), so a caller names the field from data, not from the message; `kind` is the issue's
    type when the rule is one the schema cannot state."""

    def __init__(self, field: str, message: str, kind: Unstated | None = None) -> None:
        super().__init__(f"{field} {message}")
        self.kind = kind
        self.loc: tuple[str | int, ...] = tuple(
            int(part) if part.isdigit() else part for part in field.split(".")
        )


def _kind(raw: Expr) -> Unstated:
    # A number is in the schema's bounds already, so what it breaks relates it to another field
    # (a stage's samples below the batch size); an expression's value is known only now.
    return Unstated.expression if isinstance(raw, str) else Unstated.cross_field


def _evaluate(value: Expr, env: dict[str, float], field: str) -> float:
    try:
        return expr.evaluate(value, env)
    except ValueError as error:
        raise SpecError(field, f"cannot be evaluated: {error}", _kind(value)) from None


def _positive_int(value: Expr, env: dict[str, float], field: str, *, minimum: int = 1) -> int:
    number = _evaluate(value, env, field)
    if not number <= MAX_COUNT:  # also NaN
        raise SpecError(field, f"evaluates to {number:g}; it must be at most 2^53", _kind(value))
    rounded = round(number)
    if rounded < minimum:
        raise SpecError(
            field, f"evaluates to {number:g}; it must be at least {minimum}", _kind(value)
        )
    return rounded


def _nonnegative(value: Expr, env: dict[str, float], field: str) -> float:
    number = _evaluate(value, env, field)
    if number < 0:
        raise SpecError(field, f"evaluates to {number:g}; it must be ≥ 0", _kind(value))
    return number


def resolve(spec: ExperimentSpec) -> Resolved:
    d = float(spec.d)
    N = _positive_int(spec.model.width, {"d": d}, "model.width")
    env = {"d": d, "N": float(N)}
    p1 = spec.phase1
    if p1.algorithm == Algorithm.gd:
        B = _positive_int(p1.n, env, "phase1.n")  # type: ignore[arg-type]
    else:
        B = _positive_int(p1.batch_size, env, "phase1.batch_size")
    n = B if p1.algorithm == Algorithm.gd else None
    # Outer steps per fresh minibatch: reuse and multipass count one outer update per minibatch.
    stages = []
    for i, stage in enumerate(p1.stages):
        where = f"phase1.stages.{i}"
        lr = _nonnegative(stage.lr, env, f"{where}.lr")
        inner = stage.inner_lr if stage.inner_lr is not None else stage.lr
        inner_lr = _nonnegative(inner, env, f"{where}.inner_lr")
        if stage.samples is not None:
            if p1.algorithm == Algorithm.gd:
                raise SpecError(f"{where}.samples", "is not for gd: budget gd stages in 'steps'")
            samples = _positive_int(stage.samples, env, f"{where}.samples", minimum=B)
            steps = samples // B
            samples = steps * B
        else:
            steps = _positive_int(stage.steps, env, f"{where}.steps")  # type: ignore[arg-type]
            samples = 0 if p1.algorithm == Algorithm.gd else steps * B
        stages.append(ResolvedStage(samples, steps, lr, inner_lr))
    if p1.algorithm == Algorithm.gd:
        stages[0].samples = B  # the fixed set (n = B) is drawn once, at the start
    if sum(stage.samples for stage in stages) > MAX_COUNT:
        raise SpecError(
            "phase1.stages", "add up to a sample budget beyond 2^53", Unstated.cross_field
        )
    phase2_samples = None
    if spec.phase2 is not None and spec.phase2.data == "phase1":
        if p1.algorithm != Algorithm.gd:
            raise SpecError(
                "phase2.data",
                "'phase1' needs phase1.algorithm gd: the other algorithms stream their samples "
                "and keep none to refit on",
            )
        phase2_samples = _positive_int(B, env, "phase1.n", minimum=10)  # gd: n = B
    elif spec.phase2 is not None:
        phase2_samples = _positive_int(spec.phase2.samples, env, "phase2.samples", minimum=10)
    every = None
    if spec.eval.every is not None:
        every = _positive_int(spec.eval.every, env, "eval.every")
    return Resolved(N, B, n, stages, phase2_samples, every)


def trace_points(spec: ExperimentSpec, resolved: Resolved | None = None) -> int:
    """Trace points the run stores: per seed, every Phase I evaluation position (the log grid
    plus every `eval.every`; counted, never listed) and Phase II's one point. `every: 1` on a
    large budget is what makes this big."""
    r = resolved or resolve(spec)
    unit = 1 if spec.phase1.algorithm == Algorithm.gd else r.B
    per_seed = _positions(r.total_steps, spec.eval.points, r.every, unit)
    per_seed += 1 if spec.phase2 is not None else 0
    return len(spec.seed_list) * per_seed


@functools.lru_cache(maxsize=1024)
def _positions(total_steps: int, points: int, every: int | None, unit: int) -> int:
    # Cached: the log grid costs a numpy geomspace, and a bulk submit's specs share a few budgets.
    return Schedule(total_steps, points, every, unit).ordinal(total_steps) + 1


# Chunk sizes of the trainer (trainer/cohort.py, metrics.py, phase2.py), repeated here because
# spec.py must not import torch: numbers per seed drawn at once in Phase I's reference path and
# in Phase II, test samples evaluated at once, and the largest test set kept between evaluations.
_CHUNK_NUMBERS = 2**20
_CHUNK_STEPS = 256
_TEST_CHUNK = 8192
_TEST_CACHE_NUMBERS = 2**24


def memory_estimate_bytes(spec: ExperimentSpec, resolved: Resolved | None = None) -> int:
    """A generous estimate of peak memory, in bytes, from the trainer's chunk sizes; measured
    against the peak of real runs (tests/trainer/test_memory_estimate.py: within 2×).

    Per seed, in numbers of the spec's dtype: W, a, b and their update temporaries (6·N·d); the
    test set kept between evaluations (when S·test·d ≤ 2^24) and one evaluation chunk of at most
    8192 samples with its features (m·(d + 3N)); then the larger of the two phases, which never
    hold their temporaries at once: Phase I's chunk of samples (≤ 256 steps and ≤ 2^20 numbers,
    at least one minibatch) with pre-activations of both reuse steps (m·(d + 4N)), or gd's fixed
    set (n·(d + 4N)); Phase II's chunk of ≤ 2^20/d samples with its features in the dtype and in
    float64 (m·(d + 2N) + 2·2N·m) and three float64 N×N normal-equation matrices plus the solve's
    temporaries (6·N², doubled from float64).
    """
    r = resolved or resolve(spec)
    S = len(spec.seed_list)
    itemsize = 8 if spec.dtype == "float64" else 4
    wide = 8 // itemsize  # float64 numbers in units of the dtype
    d, N, B = spec.d, r.N, r.B
    per_seed = 6 * N * d
    test = spec.eval.test_samples
    if S * test * d <= _TEST_CACHE_NUMBERS:
        per_seed += test * (d + 1)
    per_seed += min(test, _TEST_CHUNK) * (d + 3 * N)
    if r.n is not None:
        phase1 = r.n * (d + 4 * N)
    else:
        steps = max(1, min(_CHUNK_STEPS, _CHUNK_NUMBERS // max(1, B * d)))
        phase1 = B * steps * (d + 4 * N)
    phase2 = 0
    if r.phase2_samples is not None:
        m = min(r.phase2_samples, max(1, _CHUNK_NUMBERS // d))
        phase2 = m * (d + 2 * N) + wide * (2 * 2 * N * m + 6 * N * N)
    per_seed += max(phase1, phase2)
    # The terms count every temporary as if all were alive at once; the allocator frees most
    # within a chunk. Measured peaks (CPU RSS) were 0.42–0.47 of the sum, so 0.7 of it keeps the
    # estimate above the peak with room and within 2× of it.
    return int(S * per_seed * itemsize * 0.7)


# ------------------------------------------------------------------------------------ loading
def load(source: str | Path | dict[str, Any]) -> ExperimentSpec:
    """An ExperimentSpec from a dict, a JSON/YAML file path, or a JSON/YAML text."""
    if isinstance(source, dict):
        return ExperimentSpec.model_validate(source)
    text = Path(source).read_text() if Path(str(source)).exists() else str(source)
    return ExperimentSpec.model_validate(parse_text(text))


def parse_text(text: str) -> dict[str, Any]:
    """JSON or YAML text to a dict (YAML is a superset of JSON, so one parser reads both)."""
    import yaml

    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("a spec must be a mapping at the top level")
    return data
