"""Which experiments can share one program. Torch-free: the API stores `shape_key` at submit.

A *lane* is one seed of one experiment. Lanes whose experiments have the same `shape_key` can be
fused into one batched program (trainer.fused.run_group): every tensor of the update has the
same shape and every branch the update takes is the same, so stacking the lanes along the seed
dimension changes no lane's numbers (trainer/linalg.py keeps each seed's BLAS blocks aligned).
What may differ between fused experiments: step sizes and budgets of every stage, the target
(Hermite coefficients, noise, θ), the seeds, the evaluation schedule, the thresholds, the
initialisation of a and b (given their kind), Phase II, the wall-clock limit (per experiment).

Inside a group, lanes that also share `lockstep_key` (the same stage ends, evaluation positions
and zero inner steps) advance chunk by chunk in one tensor program (a *cohort*); other cohorts of
the group take turns with it in the same process, which still saves the process start.

Adding a field to the spec: if the update's shapes or branches depend on it, add it to
`shape_key`; if only the loop's breakpoints do, to `lockstep_key`; a per-lane number needs
neither, but then trainer.fused must carry it per lane.
"""

from __future__ import annotations

from typing import Any

from trainer.canonical import canonical_hash
from trainer.spec import ExperimentSpec, Resolved

# Bump when the meaning of a key changes, so stored keys of older experiments stop matching.
KEY_VERSION = 1


def _digest(value: dict[str, Any]) -> str:
    return canonical_hash(value, default=str)[:32]


def shape_key(spec: ExperimentSpec, resolved: Resolved | None = None) -> str:
    """A stable hash of what must agree for lanes to share one program (`resolved`: the spec's,
    when the caller has it already)."""
    r = resolved or spec.resolved()
    p1, m = spec.phase1, spec.model
    activation = m.activation if isinstance(m.activation, str) else m.activation.model_dump()
    return _digest(
        {
            "v": KEY_VERSION,
            "d": spec.d,
            "N": r.N,
            "B": r.B,  # gd: n, the fixed set
            "dtype": spec.dtype,
            "device": spec.device,
            "algorithm": p1.algorithm,
            "reuse_variant": p1.reuse_variant,
            "passes": p1.passes,
            "spherical": p1.spherical,
            "train": p1.train,
            "clip": p1.clip,
            "activation": activation,  # fixed Hermite coefficients are shared numbers
            "second_layer_scale": m.second_layer_scale,
            "biased": m.bias_init != "zero",  # the fast path skips adding zero biases
        }
    )


def lockstep_key(spec: ExperimentSpec) -> str:
    """Lanes of one group with the same key advance through the same chunks."""
    r = spec.resolved()
    return _digest(
        {
            "steps": [stage.steps for stage in r.stages],
            "inner_zero": [stage.inner_lr == 0.0 for stage in r.stages],
            "points": spec.eval.points,
            "every": r.every,
        }
    )


def memory_gb(spec: ExperimentSpec, resolved: Resolved | None = None) -> float:
    """The spec's memory estimate in GiB (what SILAB_GROUP_MEMORY_GB caps, summed)."""
    from trainer.spec import memory_estimate_bytes

    return memory_estimate_bytes(spec, resolved) / 2**30
