"""Phase II: ridge on random-bias features recovers a target that lies in their span."""

import torch

from trainer import model, phase2, spec, targets

CPU = torch.device("cpu")


def test_ridge_fits_a_target_in_the_feature_span_and_picks_a_small_lambda():
    # θ = e_0 and every neuron w_j = ±e_0: features σ(±z + b_j) of z = ⟨x, θ⟩ span ReLU splines
    # of z, which approximate h_2 well, so the fit must beat predicting 0 (test MSE 1) by far.
    d, N, S = 8, 64, 2
    theta = torch.zeros(S, d, dtype=torch.float64)
    theta[:, 0] = 1.0
    target = targets.Target({2: 1.0}, 0.0, theta)
    W = torch.zeros(S, N, d, dtype=torch.float64)
    W[:, :, 0] = torch.tensor([1.0, -1.0]).repeat(N // 2)
    p2 = spec.Phase2Spec(samples=4000, bias_range=3.0)
    fit = phase2.fit(W, model.Activation("relu"), p2, target, [0, 1], 4000)
    assert all(lam is not None and lam <= 1e-2 for lam in fit.ridge)
    gens = targets.generators([0, 1], "check", CPU)
    x, y = target.sample(gens, 4000)
    mse = ((model.forward(W, fit.a, fit.b, fit.act, x) - y) ** 2).mean(1)
    assert bool((mse < 0.1).all())
    assert bool((fit.b.abs() <= 3.0).all())


def test_random_directions_leave_the_test_error_near_one():
    d, N = 32, 16
    gens = targets.generators([0, 1], "train", CPU)
    theta = targets.draw_theta("random", gens, d, dtype=torch.float64, device=CPU)
    target = targets.Target({3: 1.0}, 0.0, theta)
    W, _, _ = model.init_params(
        gens,
        N,
        d,
        second_layer_scale=1.0,
        bias_init="zero",
        bias_scale=0.0,
        dtype=torch.float64,
        device=CPU,
    )
    fit = phase2.fit(
        W, model.Activation("relu"), spec.Phase2Spec(samples=2000), target, [0, 1], 2000
    )
    assert bool((fit.train_mse > 0.5).all())
