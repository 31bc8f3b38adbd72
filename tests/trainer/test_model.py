"""Activations carry correct first and second derivatives; initialisation follows the spec."""

import pytest
import torch

from trainer import model, spec, targets

CPU = torch.device("cpu")


def activations():
    gens = targets.generators([0, 1], "train", CPU)
    rand = spec.RandomHermiteActivation(random_hermite={"min_degree": 1, "max_degree": 5})
    return [
        model.Activation("tanh"),
        model.Activation("hermite", coefficients={3: 1.0}),
        model.Activation("hermite", coefficients={2: 0.5, 11: 0.3}),  # recurrence, not Horner
        model.make_activation(rand, gens, 4, dtype=torch.float64, device=CPU),
    ]


@pytest.mark.parametrize("act", activations(), ids=lambda a: a.kind)
def test_first_and_second_derivatives_match_autograd(act):
    z = torch.randn(2, 4, 7, dtype=torch.float64, requires_grad=True)
    value, first = act.value_and_derivative(z)
    (auto_first,) = torch.autograd.grad(value.sum(), z, create_graph=True)
    (auto_second,) = torch.autograd.grad(auto_first.sum(), z)
    assert torch.allclose(first, auto_first)
    assert torch.allclose(act.second_derivative(z), auto_second)


def test_relu_has_no_second_derivative():
    z = torch.randn(3, 5, 2)
    assert torch.equal(model.Activation("relu").second_derivative(z), torch.zeros_like(z))


def test_random_hermite_coefficients_have_unit_norm_per_neuron():
    act = activations()[-1]
    assert torch.allclose(act.per_neuron.norm(dim=-1), torch.ones(2, 4, dtype=torch.float64))
    assert torch.equal(act.per_neuron[..., 0], torch.zeros(2, 4, dtype=torch.float64))


def test_init_puts_w_on_the_sphere_and_a_at_plus_minus_r_a():
    gens = targets.generators([0, 1, 2], "train", CPU)
    W, a, b = model.init_params(
        gens,
        16,
        10,
        second_layer_scale=0.25,
        bias_init="uniform",
        bias_scale=2.0,
        dtype=torch.float64,
        device=CPU,
    )
    assert W.shape == (3, 16, 10)
    assert torch.allclose(W.norm(dim=-1), torch.ones(3, 16, dtype=torch.float64))
    assert set(a.abs().flatten().tolist()) == {0.25}
    assert bool((b.abs() <= 2.0).all())
