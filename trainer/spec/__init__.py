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

One module per part of the spec (fields: the building blocks; target, model, phase1, phase2,
evaluation; experiment: the whole; resolving, estimates, loading); every public name is imported
here, so `from trainer.spec import ExperimentSpec` is the way to use it.
"""

from __future__ import annotations

from trainer.spec.estimates import (
    memory_estimate_bytes,
    trace_points,
)
from trainer.spec.evaluation import (
    EvalSpec,
)
from trainer.spec.experiment import (
    DEFAULT_MAX_MEMORY_GB,
    MAX_SEED,
    MAX_WALL_S,
    ExperimentSpec,
)
from trainer.spec.fields import (
    DEGREES_TO_16,
    DEGREES_TO_32,
    EXPR,
    MAX_COEFFICIENT,
    MAX_COUNT,
    Coefficient,
    Count,
    Expr,
    Expression,
    Rate,
    RidgeCount,
    Strict,
    Unstated,
)
from trainer.spec.loading import (
    load,
    parse_text,
)
from trainer.spec.model import (
    Activation,
    ActivationKind,
    HermiteActivation,
    ModelSpec,
    RandomHermiteActivation,
    RandomHermiteDegrees,
)
from trainer.spec.phase1 import (
    NULL,
    Algorithm,
    Phase1Spec,
    Stage,
)
from trainer.spec.phase2 import (
    Phase2Spec,
)
from trainer.spec.resolving import (
    Resolved,
    ResolvedStage,
    SpecError,
    resolve,
)
from trainer.spec.target import (
    TARGET_PRESETS,
    TargetSpec,
    target_preset,
)

__all__ = [
    "DEFAULT_MAX_MEMORY_GB",
    "DEGREES_TO_16",
    "DEGREES_TO_32",
    "EXPR",
    "MAX_COEFFICIENT",
    "MAX_COUNT",
    "MAX_SEED",
    "MAX_WALL_S",
    "NULL",
    "TARGET_PRESETS",
    "Activation",
    "ActivationKind",
    "Algorithm",
    "Coefficient",
    "Count",
    "EvalSpec",
    "ExperimentSpec",
    "Expr",
    "Expression",
    "HermiteActivation",
    "ModelSpec",
    "Phase1Spec",
    "Phase2Spec",
    "RandomHermiteActivation",
    "RandomHermiteDegrees",
    "Rate",
    "Resolved",
    "ResolvedStage",
    "RidgeCount",
    "SpecError",
    "Stage",
    "Strict",
    "TargetSpec",
    "Unstated",
    "load",
    "memory_estimate_bytes",
    "parse_text",
    "resolve",
    "target_preset",
    "trace_points",
]
