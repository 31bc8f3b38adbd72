"""ExperimentSpec: the whole experiment, the one input of the trainer, and its hash."""

from __future__ import annotations

import weakref
from dataclasses import asdict
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from trainer import hermite
from trainer.canonical import canonical_hash, canonical_json
from trainer.spec.estimates import memory_estimate_bytes, trace_points
from trainer.spec.evaluation import EvalSpec
from trainer.spec.fields import Strict, Unstated
from trainer.spec.model import ModelSpec
from trainer.spec.phase1 import Algorithm, Phase1Spec
from trainer.spec.phase2 import Phase2Spec
from trainer.spec.resolving import Resolved, SpecError, resolve
from trainer.spec.target import TargetSpec

# A memory estimate above this is refused unless the spec raises `max_memory_gb`.
DEFAULT_MAX_MEMORY_GB = 16.0
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
