"""Probabilists' Hermite polynomials and the exponents of a link function (numpy only, no torch).

Conventions (shared/science.md): He_0 = 1, He_1 = z, He_{k+1} = z He_k − k He_{k−1}, so that
E[He_j He_k] = k! δ_jk under z ~ N(0, 1). A link σ* is given by coefficients c_k on the normalized
h_k = He_k / √(k!), so E[σ*²] = Σ_k c_k² and predicting 0 has test MSE Σ_k c_k² (1 after
normalization).

This module is imported by the API (through trainer.spec) and must never import torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

# Below this a coefficient counts as zero when reading off an exponent from quadrature.
COEFFICIENT_TOLERANCE = 1e-9


def he(k: int, z: np.ndarray) -> np.ndarray:
    """He_k(z), by the three-term recurrence."""
    z = np.asarray(z, dtype=float)
    previous, current = np.ones_like(z), z.copy()
    if k == 0:
        return previous
    for j in range(1, k):
        previous, current = current, z * current - j * previous
    return current


def h(k: int, z: np.ndarray) -> np.ndarray:
    """Normalized h_k(z) = He_k(z) / √(k!), orthonormal under N(0, 1)."""
    return he(k, z) / math.sqrt(math.factorial(k))


def link(coefficients: Mapping[int, float], z: np.ndarray) -> np.ndarray:
    """σ*(z) = Σ_k c_k h_k(z)."""
    z = np.asarray(z, dtype=float)
    out = np.zeros_like(z)
    for k, c in coefficients.items():
        out = out + c * h(int(k), z)
    return out


def norm(coefficients: Mapping[int, float]) -> float:
    """√E[σ*(z)²] for z ~ N(0, 1)."""
    return math.sqrt(sum(c * c for c in coefficients.values()))


def normalize(coefficients: Mapping[int, float]) -> dict[int, float]:
    """Coefficients scaled so that E[σ*²] = 1. A zero link cannot be normalized."""
    scale = norm(coefficients)
    if scale == 0.0:
        raise ValueError("the link is identically zero")
    return {int(k): c / scale for k, c in coefficients.items()}


def gauss_nodes(points: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite_e nodes and weights normalized to integrate against N(0, 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(points)
    return nodes, weights / math.sqrt(2 * math.pi)


def coefficients_of(
    values_at_nodes: np.ndarray, nodes: np.ndarray, weights: np.ndarray, max_degree: int
) -> dict[int, float]:
    """Project a function sampled at Gauss nodes onto h_0 … h_max_degree."""
    return {
        k: float(np.sum(weights * values_at_nodes * h(k, nodes))) for k in range(max_degree + 1)
    }


def degree(coefficients: Mapping[int, float]) -> int:
    nonzero = [int(k) for k, c in coefficients.items() if abs(c) > COEFFICIENT_TOLERANCE]
    return max(nonzero, default=0)


def power_coefficients(coefficients: Mapping[int, float], power: int) -> dict[int, float]:
    """Hermite coefficients (on h_k) of σ*(z)^power, exact up to rounding.

    σ*^power is a polynomial of degree q·power, so Gauss quadrature with q·power + 1 nodes or more
    integrates every projection exactly.
    """
    q = degree(coefficients)
    top = q * power
    nodes, weights = gauss_nodes(top + 2)
    values = link(coefficients, nodes) ** power
    return coefficients_of(values, nodes, weights, top)


def information_exponent(coefficients: Mapping[int, float]) -> int | None:
    """Smallest k ≥ 1 with a non-zero coefficient on h_k; None for a constant link."""
    ks = sorted(
        int(k) for k, c in coefficients.items() if k >= 1 and abs(c) > COEFFICIENT_TOLERANCE
    )
    return ks[0] if ks else None


def label_power_exponents(
    coefficients: Mapping[int, float], max_power: int = 4
) -> dict[int, int | None]:
    """Information exponent of y^k for k = 1 … max_power (the label powers batch reuse sees)."""
    scale = norm(coefficients) or 1.0
    scaled = {int(k): c / scale for k, c in coefficients.items()}
    return {k: information_exponent(power_coefficients(scaled, k)) for k in range(1, max_power + 1)}


def reuse_exponent(coefficients: Mapping[int, float], max_power: int = 4) -> int | None:
    """min_k of the information exponent of y^k: the exponent batch reuse faces (≤ 2 for
    polynomials, the generative exponent p* of shared/science.md when polynomial transforms
    suffice)."""
    exponents = [
        e for e in label_power_exponents(coefficients, max_power).values() if e is not None
    ]
    return min(exponents, default=None)
