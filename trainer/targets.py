"""The teacher: θ per seed, labels y = σ*(⟨x, θ⟩) + noise, Hermite polynomials in torch.

Every random draw of a seed comes from that seed's own generators (see `seed_generator`), so a
seed's numbers never depend on which other seeds run beside it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

import torch


def seed_generator(seed: int, stream: str, device: torch.device) -> torch.Generator:
    """A generator for one (seed, stream) pair, derived from the seed alone.

    Each purpose has its own stream ("train", "test", "phase2"): drawing more test samples never
    moves the training stream, and Phase II's draws never move Phase I's."""
    digest = hashlib.sha256(f"silab:{seed}:{stream}".encode()).digest()
    generator = torch.Generator(device=device)
    generator.manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
    return generator


def generators(seeds: Sequence[int], stream: str, device: torch.device) -> list[torch.Generator]:
    return [seed_generator(seed, stream, device) for seed in seeds]


def randn(
    gens: Sequence[torch.Generator],
    shape: tuple[int, ...],
    *,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """(S, *shape) standard normals, row s drawn from gens[s] alone (the numbers of
    torch.randn(shape, generator=gens[s]), drawn in place: no stacking copy)."""
    out = torch.empty((len(gens), *shape), dtype=dtype, device=device)
    for row, g in zip(out, gens, strict=True):
        row.normal_(generator=g)
    return out


def rand(
    gens: Sequence[torch.Generator],
    shape: tuple[int, ...],
    *,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """(S, *shape) uniforms on [0, 1), row s drawn from gens[s] alone."""
    return torch.stack([torch.rand(shape, generator=g, dtype=dtype, device=device) for g in gens])


def unit_rows(v: torch.Tensor) -> torch.Tensor:
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)


# --------------------------------------------------------------------------------------- Hermite
def he_all(z: torch.Tensor, degree: int) -> list[torch.Tensor]:
    """[He_0(z), …, He_degree(z)] by the recurrence He_{k+1} = z He_k − k He_{k−1}."""
    out = [torch.ones_like(z)]
    if degree >= 1:
        out.append(z)
    for k in range(1, degree):
        out.append(z * out[k] - k * out[k - 1])
    return out


def h_all(z: torch.Tensor, degree: int) -> list[torch.Tensor]:
    """[h_0(z), …, h_degree(z)], h_k = He_k / √(k!) (orthonormal under N(0, 1))."""
    return [p / math.sqrt(math.factorial(k)) for k, p in enumerate(he_all(z, degree))]


def hermite_derivative(coefficients: Mapping[int, float], order: int = 1) -> dict[int, float]:
    """Coefficients on h_k of the `order`-th derivative of Σ_k c_k h_k.

    He_k' = k He_{k−1}, hence h_k' = √k h_{k−1}.
    """
    out = {int(k): float(c) for k, c in coefficients.items()}
    for _ in range(order):
        out = {k - 1: c * math.sqrt(k) for k, c in out.items() if k >= 1}
    return out


def hermite_series(coefficients: Mapping[int, float], z: torch.Tensor) -> torch.Tensor:
    """Σ_k c_k h_k(z)."""
    if not coefficients:
        return torch.zeros_like(z)
    hs = h_all(z, max(coefficients))
    out = torch.zeros_like(z)
    for k, c in coefficients.items():
        if c != 0.0:
            out = out + c * hs[k]
    return out


# ---------------------------------------------------------------------------------------- target
class Target:
    """σ* with its coefficients (normalized per the spec), noise level and θ for every seed."""

    def __init__(self, coefficients: Mapping[int, float], noise: float, theta: torch.Tensor):
        self.coefficients = dict(coefficients)
        self.noise = noise
        self.theta = theta  # (S, d), unit rows

    def link(self, z: torch.Tensor) -> torch.Tensor:
        return hermite_series(self.coefficients, z)

    def sample(
        self, gens: Sequence[torch.Generator], count: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """count fresh samples per seed: x (S, count, d) ~ N(0, I_d), y (S, count)."""
        d = self.theta.shape[1]
        dtype, device = self.theta.dtype, self.theta.device
        x = randn(gens, (count, d + (1 if self.noise > 0 else 0)), dtype=dtype, device=device)
        # The noise rides along as one extra column so one draw per seed serves both.
        noise = x[..., d] if self.noise > 0 else None
        x = x[..., :d]
        # vecdot (for real numbers an elementwise product and a last-axis sum), not einsum: einsum
        # picks its kernel by S, and a seed's labels must not depend on how many seeds are beside it
        y = self.link(torch.linalg.vecdot(x, self.theta[:, None, :]))  # (S, count)
        if noise is not None:
            y = y + self.noise * noise
        return x, y


def draw_theta(
    spec_theta: str | list[float],
    gens: Sequence[torch.Generator],
    d: int,
    *,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """(S, d) unit directions: uniform on the sphere from each seed's stream, or the spec's θ."""
    if spec_theta == "random":
        return unit_rows(randn(gens, (d,), dtype=dtype, device=device))
    theta = torch.tensor(spec_theta, dtype=torch.float64)
    theta = (theta / torch.linalg.vector_norm(theta)).to(dtype=dtype, device=device)
    return theta.expand(len(gens), d).clone()
