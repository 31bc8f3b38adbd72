"""The baseline a research script would write: numpy, one seed at a time, one sample at a time.

One neuron (N = 1), f(x) = a·σ(⟨w, x⟩) with a = ±r_a (r_a = 0.001, so f ≈ 0), σ = He_3 student,
target y = h_3(⟨θ, x⟩), B = 1, spherical steps in mean-field units (the step on w is
lr·(y − f)·(a/r_a)·σ'(z)·x, projected on the tangent space at w, then w is renormalized), as in
trainer/spec/__init__.py. Batch reuse ("outer" variant): w' = w − η·∇̃L(w) on the sample, then
w ← normalize(w − γ·∇̃L(w')) on the same sample.
η = 0 gives online SGD.

Used by bench/seed_batching.py as the "how research scripts usually are" baseline, and runnable
on its own as an independent cross-check of the reference table:

    python bench/numpy_baseline.py --d 64 --seeds 8 --algorithm reuse
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

SQRT6 = math.sqrt(6.0)


def he3(z: float) -> float:
    return z**3 - 3.0 * z


def he3_prime(z: float) -> float:
    return 3.0 * z**2 - 3.0


def run_one(
    d: int,
    samples: int,
    inner_lr: float,
    lr: float,
    seed: int,
    threshold: float = 0.5,
    stop_at_recovery: bool = False,
    output_scale: float = 1e-3,
) -> dict[str, float | int | None]:
    """One seed, one sample at a time. Returns the weak-recovery sample count and final |m|."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(d)
    theta /= np.linalg.norm(theta)
    w = rng.standard_normal(d)
    w /= np.linalg.norm(w)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    a = sign * output_scale
    recovered = None
    for t in range(1, samples + 1):
        x = rng.standard_normal(d)
        y = he3(float(theta @ x)) / SQRT6
        # First step on the sample (skipped for online SGD).
        z = float(w @ x)
        if inner_lr > 0.0:
            residual = a * he3(z) - y
            grad = residual * sign * he3_prime(z) * x
            grad -= (grad @ w) * w
            w_inner = w - inner_lr * grad
            z = float(w_inner @ x)
        # The outer step, at w' for reuse (w for online), projected at w.
        residual = a * he3(z) - y
        grad = residual * sign * he3_prime(z) * x
        grad -= (grad @ w) * w
        w = w - lr * grad
        w /= np.linalg.norm(w)
        if recovered is None and abs(float(w @ theta)) >= threshold:
            recovered = t
            if stop_at_recovery:
                break
    return {"weak_recovery_samples": recovered, "final_abs_m": abs(float(w @ theta))}


def run_seeds(
    d: int, samples: int, inner_lr: float, lr: float, seeds: list[int], **kwargs: float | bool
) -> list[dict[str, float | int | None]]:
    """Seeds one after another, the way a research script loops over them."""
    return [run_one(d, samples, inner_lr, lr, seed, **kwargs) for seed in seeds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--algorithm", choices=["reuse", "online"], default="reuse")
    parser.add_argument("--budget", type=float, default=None, help="samples / d")
    args = parser.parse_args()
    d = args.d
    if args.algorithm == "reuse":
        inner, lr, budget = 0.3 / d, 0.05 / (d * math.log(d)), args.budget or 40
    else:
        inner, lr, budget = 0.0, 0.5 / (d * math.log(d)), args.budget or 150
    start = time.perf_counter()
    runs = run_seeds(d, int(budget * d), inner, lr, list(range(args.seeds)), stop_at_recovery=True)
    wall = time.perf_counter() - start
    found = [r["weak_recovery_samples"] / d for r in runs if r["weak_recovery_samples"]]
    print(
        json.dumps(
            {
                "d": d,
                "algorithm": args.algorithm,
                "seeds": args.seeds,
                "wall_s": round(wall, 2),
                "recovered": len(found),
                "median_samples_per_d": float(np.median(found)) if found else None,
                "samples_per_d": sorted(round(f, 2) for f in found),
            }
        )
    )


if __name__ == "__main__":
    main()
