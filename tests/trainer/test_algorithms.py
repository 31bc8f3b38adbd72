"""Phase I updates: the batched step is the textbook step, and the fast path is the reference."""

from dataclasses import replace

import pytest
import torch

from trainer import algorithms, model, spec, targets
from trainer.algorithms import UpdateRule

CPU = torch.device("cpu")
F64 = torch.float64


def setup(S=3, N=5, d=12, K=24, r_a=0.5, act="tanh", seed=0):
    gens = targets.generators(range(seed, seed + S), "train", CPU)
    if act == "random_hermite":
        activation = model.make_activation(
            spec.RandomHermiteActivation(random_hermite={"min_degree": 1, "max_degree": 4}),
            gens,
            N,
            dtype=F64,
            device=CPU,
        )
    elif act == "he3":
        activation = model.Activation("hermite", coefficients={3: 1.0})
    else:
        activation = model.Activation(act)
    params = model.init_params(
        gens,
        N,
        d,
        second_layer_scale=r_a,
        bias_init="normal",
        bias_scale=0.3,
        dtype=F64,
        device=CPU,
    )
    x = targets.randn(gens, (K, d), dtype=F64, device=CPU)
    y = targets.randn(gens, (K,), dtype=F64, device=CPU)
    return activation, params, x, y


def naive_online_step(params, act, x, y, lr, r_a, clip=None):
    """Spherical online SGD written neuron by neuron, sample by sample, seed by seed."""
    W, a, b = (p.clone() for p in params)
    S, N, _ = W.shape
    B = x.shape[1]
    for s in range(S):
        grads = torch.zeros_like(W[s])
        for i in range(B):
            zs = [float(W[s, j] @ x[s, i] + b[s, j]) for j in range(N)]
            f = sum(float(a[s, j]) * float(act(torch.tensor(z))) for j, z in enumerate(zs)) / N
            for j in range(N):
                slope = float(act.value_and_derivative(torch.tensor(zs[j], dtype=F64))[1])
                c = (f - float(y[s, i])) * float(a[s, j]) / r_a * slope
                if clip is not None:
                    c = max(-clip, min(clip, c))
                grads[j] += c * x[s, i] / B
        for j in range(N):
            w = W[s, j]
            g = grads[j] - (grads[j] @ w) * w
            w = w - lr * g
            W[s, j] = w / w.norm()
    return W


@pytest.mark.parametrize("clip", [None, 0.3])
def test_batched_spherical_step_equals_a_naive_loop(clip):
    act, params, x, y = setup()
    rule = UpdateRule("online", second_layer_scale=0.5, clip=clip)
    (W, _, _), _ = algorithms.reference_update(
        params, x[:, :3], y[:, :3], algorithms.Stage(act, rule, 0.2, 0.0)
    )
    assert torch.allclose(W, naive_online_step(params, act, x[:, :3], y[:, :3], 0.2, 0.5, clip))
    if clip is not None:  # the bound binds here, so clipping changed the step
        assert not torch.allclose(W, naive_online_step(params, act, x[:, :3], y[:, :3], 0.2, 0.5))


def naive_reuse_step(w, a, act, x, y, eta, gamma, r_a, clip):
    """One neuron, one sample, batch reuse ('outer'): the textbook formulas of science.md with
    per-sample clipping of the coefficient of x in each gradient (both projected at w)."""

    def coefficient(v):
        z = torch.dot(v, x)
        c = float((a * act(z) - y) * a / r_a * act.value_and_derivative(z)[1])  # N = 1
        return max(-clip, min(clip, c))

    def tangent(g):
        return g - torch.dot(g, w) * w

    w_inner = w - eta * tangent(coefficient(w) * x)
    new = w - gamma * tangent(coefficient(w_inner) * x)
    return new / new.norm()


@pytest.mark.parametrize("variant", ["outer", "interpolate"])
def test_clipped_reuse_equals_a_naive_loop_and_the_fast_path(variant):
    act, params, x, y = setup(S=2, N=1, d=16, K=8, act="he3")
    W, a, b = params
    params = (W, a, torch.zeros_like(b))
    eta, gamma, clip = 0.3, 0.05, 2.0
    rule = UpdateRule("reuse", variant, second_layer_scale=0.5, clip=clip)
    reference, unclipped = params, params
    for i in range(x.shape[1]):
        before = reference[0]
        reference, _ = algorithms.reference_update(
            reference, x[:, i : i + 1], y[:, i : i + 1], algorithms.Stage(act, rule, gamma, eta)
        )
        if variant == "outer":
            for s in range(2):
                expected = naive_reuse_step(
                    before[s, 0], a[s, 0], act, x[s, i], y[s, i], eta, gamma, 0.5, clip
                )
                assert torch.allclose(reference[0][s, 0], expected, atol=1e-12)
        unclipped, _ = algorithms.reference_update(
            unclipped,
            x[:, i : i + 1],
            y[:, i : i + 1],
            algorithms.Stage(act, replace(rule, clip=None), gamma, eta),
        )
    assert not torch.allclose(unclipped[0], reference[0])  # the bound binds in this test
    fast, _ = algorithms.fast_chunk(params, x, y, 1, algorithms.Stage(act, rule, gamma, eta))
    assert torch.allclose(fast[0], reference[0], rtol=0, atol=1e-10)


def test_step_equals_autograd_of_the_loss_with_mean_field_scaling_and_projection():
    act, (W, a, b), x, y = setup()
    N, r_a, lr = W.shape[1], 0.5, 0.1
    rule = UpdateRule("online", train="all", second_layer_scale=r_a)
    (W1, a1, b1), _ = algorithms.reference_update(
        (W, a, b), x[:, :4], y[:, :4], algorithms.Stage(act, rule, lr, 0.0)
    )
    Wg, ag, bg = (p.clone().requires_grad_(True) for p in (W, a, b))
    f = model.forward(Wg, ag, bg, act, x[:, :4])
    loss = (0.5 * (f - y[:, :4]) ** 2).mean(1).sum()
    gW, ga, gb = torch.autograd.grad(loss, (Wg, ag, bg))
    gW = gW * N / r_a
    gW = gW - (gW * W).sum(-1, keepdim=True) * W
    expected = W - lr * gW
    assert torch.allclose(W1, expected / expected.norm(dim=-1, keepdim=True))
    assert torch.allclose(a1, a - lr * N * ga)
    assert torch.allclose(b1, b - lr * N / r_a * gb)


def test_second_preactivation_at_batch_one_has_the_closed_form_of_science_md():
    act, params, x, y = setup(act="he3")
    W, a, b = params
    rule = UpdateRule("reuse", second_layer_scale=0.5)
    eta = 0.05
    inner = algorithms._move(
        params, algorithms.gradients(params, act, x[:, :1], y[:, :1], rule)[0], eta, W, rule
    )
    u = torch.einsum("snd,sd->sn", W, x[:, 0])
    s, ds = act.value_and_derivative(u + b)
    r = (s * a).mean(1) - y[:, 0]
    c = r[:, None] * a / 0.5 * ds
    xx = (x[:, 0] ** 2).sum(-1, keepdim=True)
    closed = u - eta * c * (xx - u * u)
    assert torch.allclose(torch.einsum("snd,sd->sn", inner[0], x[:, 0]), closed)


CASES = [
    ("online", "outer", 1),
    ("reuse", "outer", 1),
    ("reuse", "interpolate", 1),
    ("multipass", "outer", 1),
    ("online", "outer", 4),
    ("reuse", "outer", 3),
    ("reuse", "interpolate", 2),
    ("multipass", "outer", 8),
]


@pytest.mark.parametrize("clip", [None, 0.5])
@pytest.mark.parametrize("act", ["tanh", "he3", "random_hermite"])
@pytest.mark.parametrize(("algorithm", "variant", "B"), CASES)
def test_fast_path_equals_reference_in_float64(act, algorithm, variant, B, clip):
    activation, params, x, y = setup(act=act)
    rule = UpdateRule(algorithm, variant, passes=3, second_layer_scale=0.5, clip=clip)
    assert rule.fast(B)
    lr, inner = 0.02, 0.05
    reference, residuals = params, []
    for i in range(0, x.shape[1], B):
        reference, r = algorithms.reference_update(
            reference,
            x[:, i : i + B],
            y[:, i : i + B],
            algorithms.Stage(activation, rule, lr, inner),
        )
        residuals.append(r)
    fast, fast_residuals = algorithms.fast_chunk(
        params, x, y, B, algorithms.Stage(activation, rule, lr, inner)
    )
    assert torch.allclose(fast[0], reference[0], rtol=0, atol=1e-10)
    assert torch.allclose(fast_residuals, torch.cat(residuals, 1), rtol=0, atol=1e-10)
    assert torch.allclose(fast[0].norm(dim=-1), torch.ones(3, 5, dtype=F64), atol=1e-12)
    assert not torch.equal(fast[0], params[0])


@pytest.mark.parametrize(("algorithm", "variant", "B"), [c for c in CASES if c[2] > 1])
def test_small_batch_fast_path_ends_a_chunk_on_the_sphere(algorithm, variant, B):
    # Its per-step norms assume a unit w; a row off the sphere (float32 rounding accumulated
    # over chunks, Figure 1(a)'s 'diverged' seeds) must not be carried into the next chunk.
    activation, params, x, y = setup(act="he3")
    W, a, b = params
    off = (W * (1 + 1e-4), a, b)
    rule = UpdateRule(algorithm, variant, passes=3, second_layer_scale=0.5)
    fast, _ = algorithms.fast_chunk(off, x, y, B, algorithms.Stage(activation, rule, 0.2, 0.5))
    assert torch.allclose(fast[0].norm(dim=-1), torch.ones(3, 5, dtype=F64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("clip", [None, 0.5])
@pytest.mark.parametrize(
    ("algorithm", "variant"), [("online", "outer"), ("reuse", "outer"), ("reuse", "interpolate")]
)
def test_large_batch_path_equals_reference_in_float64(algorithm, variant, clip):
    B = algorithms.FAST_MAX_BATCH + 4
    activation, params, x, y = setup(act="he3", K=3 * B)
    rule = UpdateRule(algorithm, variant, second_layer_scale=0.5, clip=clip)
    assert rule.fast(B) and not UpdateRule("multipass").fast(B)
    reference, residuals = params, []
    for i in range(0, x.shape[1], B):
        reference, r = algorithms.reference_update(
            reference,
            x[:, i : i + B],
            y[:, i : i + B],
            algorithms.Stage(activation, rule, 0.2, 0.5),
        )
        residuals.append(r)
    fast, fast_residuals = algorithms.fast_chunk(
        params, x, y, B, algorithms.Stage(activation, rule, 0.2, 0.5)
    )
    assert torch.allclose(fast[0], reference[0], rtol=0, atol=1e-10)
    assert torch.allclose(fast_residuals, torch.cat(residuals, 1), rtol=0, atol=1e-10)
    assert not torch.equal(fast[0], params[0])


@pytest.mark.parametrize("N", [algorithms.DIRECT_MAX_WIDTH, algorithms.DIRECT_MAX_WIDTH + 1])
@pytest.mark.parametrize(
    ("algorithm", "variant"),
    [("online", "outer"), ("reuse", "outer"), ("reuse", "interpolate"), ("multipass", "outer")],
)
def test_both_batch_one_fast_paths_equal_reference_in_float64(algorithm, variant, N):
    # B = 1 moves narrow layers directly and wide ones through the chunk's Gram matrix
    activation, params, x, y = setup(N=N, act="he3")
    rule = UpdateRule(algorithm, variant, passes=3, second_layer_scale=0.5, clip=2.0)
    reference, residuals = params, []
    for i in range(x.shape[1]):
        reference, r = algorithms.reference_update(
            reference,
            x[:, i : i + 1],
            y[:, i : i + 1],
            algorithms.Stage(activation, rule, 0.02, 0.05),
        )
        residuals.append(r)
    fast, fast_residuals = algorithms.fast_chunk(
        params, x, y, 1, algorithms.Stage(activation, rule, 0.02, 0.05)
    )
    assert torch.allclose(fast[0], reference[0], rtol=0, atol=1e-10)
    assert torch.allclose(fast_residuals, torch.cat(residuals, 1), rtol=0, atol=1e-10)


def test_reuse_with_zero_inner_step_is_online():
    act, params, x, y = setup()
    online = algorithms.reference_update(
        params, x[:, :2], y[:, :2], algorithms.Stage(act, UpdateRule("online"), 0.1, 0.0)
    )[0][0]
    reuse = algorithms.reference_update(
        params, x[:, :2], y[:, :2], algorithms.Stage(act, UpdateRule("reuse"), 0.1, 0.0)
    )[0][0]
    assert torch.equal(online, reuse)


def test_interpolation_is_a_step_of_size_xi_eta_along_both_gradients():
    # (1 − ξ) w + ξ (w − η g(w) − η g(w')) = w − ξη (g(w) + g(w')), ξη = γ
    act, params, x, y = setup(act="he3")
    W = params[0]
    gamma, eta = 1e-3, 1e-2
    rule = UpdateRule("reuse", "interpolate")
    inter = algorithms.reference_update(
        params, x[:, :1], y[:, :1], algorithms.Stage(act, rule, gamma, eta)
    )[0][0]
    g1 = algorithms.gradients(params, act, x[:, :1], y[:, :1], rule)[0]
    inner = algorithms._move(params, g1, eta, W, rule)
    g2 = algorithms.gradients(inner, act, x[:, :1], y[:, :1], rule)[0]
    expected = algorithms._move(algorithms._move(params, g1, gamma, W, rule), g2, gamma, W, rule)[0]
    assert torch.allclose(inter, expected / expected.norm(dim=-1, keepdim=True))


def test_non_spherical_steps_leave_the_sphere():
    act, params, x, y = setup()
    rule = UpdateRule("online", spherical=False)
    assert not rule.fast(1)
    (W, _, _), _ = algorithms.reference_update(
        params, x[:, :1], y[:, :1], algorithms.Stage(act, rule, 0.5, 0.0)
    )
    assert not torch.allclose(W.norm(dim=-1), torch.ones(3, 5, dtype=F64))
