"""Phase II: random biases, frozen W, ridge regression of the second layer on fresh samples (or,
for gd with phase2.data = phase1, on Phase I's fixed set).

b_j ~ Unif[−C_b, C_b]; features φ_j(x) = σ(⟨w_j, x⟩ + b_j); the second layer solves, per seed,
min_v (1/M) Σ (φ(x)·v − y)² + λ‖v‖², i.e. (ΦᵀΦ/M + λI) v = Φᵀy/M, and a = N·v so that
f = (1/N) Σ a_j φ_j keeps the network's convention. λ is chosen per seed on the held-out split,
then refitted on all samples. Normal equations are accumulated chunk by chunk in float64.

A large Phase II (10^8 samples) runs for minutes, so `deadline` (a time.perf_counter() instant,
the caller's wall-clock limit) is checked at every chunk boundary: past it, `fit` raises
DeadlinePassed and the caller decides what that means (trainer.fused: status timed_out).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from trainer import linalg, model, targets

# Phase II samples per seed drawn and featurized at once (bounds (S, N, chunk) and (S, chunk, d)).
SAMPLE_NUMBERS_PER_SEED = 2**20


class DeadlinePassed(Exception):
    """The caller's deadline passed between two chunks of Phase II."""

    def __init__(self, samples_done: int) -> None:
        super().__init__(f"Phase II stopped by its deadline after {samples_done} samples")
        self.samples_done = samples_done


@dataclass
class Phase2Fit:
    a: torch.Tensor  # (S, N), fitted second layer in the network's convention
    b: torch.Tensor  # (S, N), the redrawn biases
    act: model.Activation
    ridge: list[float | None]  # chosen λ per seed (None: no λ gave a finite fit)
    train_mse: torch.Tensor  # (S,), on all Phase II samples after the refit


class _Normal:
    """Accumulated ΦΦᵀ (S, N, N), Φy (S, N), yᵀy (S,) and the sample count, in float64."""

    def __init__(self, S: int, N: int, device: torch.device):
        self.G = torch.zeros(S, N, N, dtype=torch.float64, device=device)
        self.c = torch.zeros(S, N, dtype=torch.float64, device=device)
        self.yy = torch.zeros(S, dtype=torch.float64, device=device)
        self.count = 0

    def add(self, phi: torch.Tensor, y: torch.Tensor) -> None:
        """phi (S, N, m), y (S, m)."""
        phi, y = phi.double(), y.double()
        self.G += linalg.bmm(phi, phi.transpose(1, 2))
        self.c += (phi * y[:, None, :]).sum(-1)
        self.yy += (y * y).sum(1)
        self.count += y.shape[1]

    def solve(
        self, lam: torch.Tensor, other: _Normal | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """v (S, N) for ridge λ per seed (S,), on these samples (plus `other`'s); info ≠ 0 marks
        a singular system."""
        G, c, count = self.G, self.c, self.count
        if other is not None:
            G, c, count = G + other.G, c + other.c, count + other.count
        eye = torch.eye(G.shape[-1], dtype=G.dtype, device=G.device)
        v, info = linalg.solve_ex(G / count + lam[:, None, None] * eye, c / count)
        return v, info

    def mse(self, v: torch.Tensor) -> torch.Tensor:
        """(1/m) Σ (φ·v − y)² per seed from the accumulated moments."""
        quad = ((self.G * v[:, None, :]).sum(-1) * v).sum(1)
        return (quad - 2 * (v * self.c).sum(1) + self.yy) / self.count


def fit(
    W: torch.Tensor,
    phase1_act: model.Activation,
    spec_phase2,
    target: targets.Target,
    seeds: Sequence[int],
    samples: int,
    data: tuple[torch.Tensor, torch.Tensor] | None = None,
    deadline: float | None = None,
) -> Phase2Fit:
    """Redraw biases and fit the second layer of W (S, N, d) on `samples` fresh samples per seed,
    all drawn from the seeds' 'phase2' streams; or, with `data` (x (S, n, d), y (S, n): gd's
    fixed set, spec phase2.data = phase1), on those n samples in their order. Raises
    DeadlinePassed at the first chunk boundary at or past `deadline` (time.perf_counter())."""
    S, N, d = W.shape
    dtype, device = W.dtype, W.device
    gens = targets.generators(seeds, "phase2", device)
    C = spec_phase2.bias_range
    b = C * (2 * targets.rand(gens, (N,), dtype=dtype, device=device) - 1)  # (S, N)
    if spec_phase2.activation == "same":
        act = phase1_act
    else:
        act = model.make_activation(spec_phase2.activation, gens, N, dtype=dtype, device=device)
    held = max(1, min(samples - 1, round(spec_phase2.holdout * samples)))
    fit_count = samples - held  # the first samples fit, the last `held` choose λ
    train, holdout = _Normal(S, N, device), _Normal(S, N, device)
    chunk = max(1, SAMPLE_NUMBERS_PER_SEED // d)
    start = 0
    while start < samples:
        if deadline is not None and time.perf_counter() >= deadline:
            raise DeadlinePassed(start)
        # chunks never straddle the split, so every sample lands in exactly one accumulator
        end = min(start + chunk, fit_count if start < fit_count else samples)
        if data is None:
            x, y = target.sample(gens, end - start)
        else:
            x, y = data[0][:, start:end], data[1][:, start:end]  # (S, m, d), (S, m)
        phi = act(linalg.bmm(W, x.transpose(1, 2)) + b[..., None])  # (S, N, m)
        (train if start < fit_count else holdout).add(phi, y)
        start = end
    best = torch.full((S,), float("inf"), dtype=torch.float64, device=device)
    best_lam = torch.full((S,), float("nan"), dtype=torch.float64, device=device)
    for lam in spec_phase2.ridge_grid:
        lam_t = torch.full((S,), float(lam), dtype=torch.float64, device=device)
        v, info = train.solve(lam_t)
        err = holdout.mse(v)
        err = torch.where((info == 0) & torch.isfinite(err), err, torch.inf)
        better = err < best
        best = torch.where(better, err, best)
        best_lam = torch.where(better, lam_t, best_lam)
    found = torch.isfinite(best)
    v, info = train.solve(torch.where(found, best_lam, 1.0), holdout)
    v = torch.where((found & (info == 0))[:, None], v, 0.0)
    merged = _Normal(S, N, device)
    merged.G, merged.c, merged.yy = train.G + holdout.G, train.c + holdout.c, train.yy + holdout.yy
    merged.count = samples
    pairs = zip(best_lam.tolist(), found.tolist(), strict=True)
    ridge = [float(lam) if ok else None for lam, ok in pairs]
    return Phase2Fit(a=(N * v).to(dtype), b=b, act=act, ridge=ridge, train_mse=merged.mse(v))
