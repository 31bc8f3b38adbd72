"""Hermite maths: orthonormality, the exponent table of shared/science.md, torch matches numpy."""

import math

import numpy as np
import pytest
import torch

from trainer import hermite, targets


def test_normalized_hermite_polynomials_are_orthonormal_under_the_gaussian():
    nodes, weights = hermite.gauss_nodes(40)
    for j in range(9):
        for k in range(9):
            inner = np.sum(weights * hermite.h(j, nodes) * hermite.h(k, nodes))
            assert inner == pytest.approx(1.0 if j == k else 0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("coefficients", "p", "p_star"),
    [
        ({2: 1.0}, 2, 2),
        ({3: 1.0}, 3, 1),
        ({4: 1.0}, 4, 2),
        ({5: 1.0}, 5, 1),
        ({6: 1.0}, 6, 2),
        ({3: 1 / math.sqrt(2), 4: 1 / math.sqrt(2)}, 3, 1),
    ],
)
def test_information_and_reuse_exponents_match_the_table(coefficients, p, p_star):
    assert hermite.information_exponent(coefficients) == p
    assert hermite.reuse_exponent(coefficients) == p_star


def test_torch_hermite_series_matches_numpy_and_derivatives_follow_he_k_prime():
    z = torch.linspace(-3, 3, 101, dtype=torch.float64)
    c = {1: 0.3, 3: -0.5, 4: 0.8}
    assert np.allclose(targets.hermite_series(c, z).numpy(), hermite.link(c, z.numpy()))
    zz = z.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(targets.hermite_series(c, zz).sum(), zz)
    assert torch.allclose(grad, targets.hermite_series(targets.hermite_derivative(c), z))
