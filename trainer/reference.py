"""The Phase I update maths, written once: the reference every fast path is tested against.

One update consumes one minibatch x (S, B, d), y (S, B) (gd: the whole fixed set) and moves
every neuron of every lane at once. Spherical steps (spec.phase1.spherical) project each gradient
on the tangent space at the neuron's current unit vector w, (I − w wᵀ), and renormalize w after
the update.

Reconstructed choice (shared/science.md leaves it open): inside one minibatch update every
gradient, including reuse's second gradient taken at w', is projected at the same w, the point
the update is applied to; multipass renormalizes after each pass and projects at the current
point. With spec.phase1.clip (UpdateRule.clip), every gradient's per-sample coefficient of x_i,
(f − y_i)·(a_j/r_a)·σ_j'(z_ij), is clipped to [−clip, clip] before the minibatch mean.

Adding an algorithm: name it in trainer/spec/phase1.py (Phase1Spec.algorithm), give it a branch in
`reference_update` built from `gradients`, `_move` and `_finish`, and return False from
`UpdateRule.fast` for it until a fast path (trainer/fast_*.py) computes the same numbers up to
rounding (tests/trainer/test_algorithms.py compares them). The loop (trainer/loop.py) needs no
change; if the new update's shapes or branches depend on a new spec field, add it to
trainer/lanes.py:shape_key.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trainer import linalg
from trainer.model import Activation
from trainer.spec import Algorithm

FAST_MAX_BATCH = 8


@dataclass(frozen=True)
class UpdateRule:
    """The fixed parts of a Phase I update, from spec.phase1 and spec.model."""

    algorithm: Algorithm
    reuse_variant: str = "outer"  # outer | interpolate
    passes: int = 2
    spherical: bool = True
    train: str = "first"  # first | all
    second_layer_scale: float = 1.0
    clip: float | None = None  # per-sample gradient coefficient bound (spec.phase1.clip)

    def fast(self, batch_size: int) -> bool:
        """Whether `fast_chunk` computes this update (it must be the same choice on every run of a
        spec, since the two paths round differently)."""
        return (
            self.spherical
            and self.train == "first"
            and self.algorithm != Algorithm.gd
            and (batch_size <= FAST_MAX_BATCH or self.algorithm != Algorithm.multipass)
        )


Params = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # W (S, N, d), a (S, N), b (S, N)

# A step size: one number for every lane, or one per lane (S,) (trainer.fused runs experiments
# with different step sizes as lanes of one program). Both forms give the same numbers: a Python
# number is rounded to the tensor's dtype by every op, as a per-lane tensor already is.
Rate = float | torch.Tensor


@dataclass(frozen=True)
class Stage:
    """What every update of a chunk shares besides the parameters and the data: the activation,
    the rule, and the step sizes of the stage the chunk lies in."""

    act: Activation
    rule: UpdateRule
    lr: Rate
    inner_lr: Rate


def per_lane(rate: Rate, ndim: int) -> Rate:
    """`rate` shaped to broadcast over an (S, …) tensor of `ndim` dimensions."""
    if isinstance(rate, torch.Tensor):
        return rate.reshape(-1, *([1] * (ndim - 1)))
    return rate


def is_zero(rate: Rate) -> bool:
    """A zero step given as a number (the loop passes 0.0, not a tensor, for a stage whose inner
    step is zero in every lane: trainer.lanes.lockstep_key makes lanes agree on it)."""
    return not isinstance(rate, torch.Tensor) and rate == 0.0


# ------------------------------------------------------------------------------------- reference
def gradients(
    params: Params,
    act: Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    rule: UpdateRule,
    chunk: int = 8192,
) -> tuple[Params, torch.Tensor]:
    """Mean-field gradients (gW (S, N, d), ga (S, N), gb (S, N)) of the mean of ½(f − y)² over the
    samples x (S, M, d), y (S, M), and the residuals r = f − y (S, M). Samples are taken `chunk`
    at a time so a large fixed set (gd) never needs an (S, N, M) tensor."""
    W, a, b = params
    M = x.shape[1]
    every = rule.train == "all"  # ga, gb are only used when the whole network trains
    gW = ga = gb = None
    residuals = []
    for i in range(0, M, chunk):
        xc, yc = x[:, i : i + chunk], y[:, i : i + chunk]
        z = linalg.bmm(W, xc.transpose(1, 2)).add_(b[..., None])  # (S, N, m)
        s, ds = act.value_and_derivative(z)
        r = (s * a[..., None]).mean(1) - yc  # (S, m)
        c = ds.mul_(a[..., None] / rule.second_layer_scale).mul_(r[:, None, :])  # (S, N, m)
        if rule.clip is not None:
            c = c.clamp_(-rule.clip, rule.clip)
        c = c.div_(M)  # the mean over samples, on the (S, N, m) coefficients, not on (S, N, d)
        part = linalg.bmm(c, xc)
        gW = part if gW is None else gW.add_(part)
        if every:
            part_b, part_a = c.sum(-1), (r[:, None, :] * s).sum(-1) / M
            gb = part_b if gb is None else gb + part_b
            ga = part_a if ga is None else ga + part_a
        residuals.append(r)
    if not every:
        ga, gb = torch.zeros_like(a), torch.zeros_like(b)
    return (gW, ga, gb), torch.cat(residuals, dim=1)  # type: ignore[return-value]


def _move(params: Params, grads: Params, lr: Rate, base: torch.Tensor, rule: UpdateRule) -> Params:
    """params − lr·grads, the W gradient projected at `base` when spherical; a, b move only when
    the whole network trains (they are never projected)."""
    W, a, b = params
    gW, ga, gb = grads
    if rule.spherical:
        # W − lr (g − ⟨g, w⟩ w) in two passes over the weights
        W = W.addcmul(base, (per_lane(lr, 2) * torch.linalg.vecdot(gW, base))[..., None])
        W = W.sub_(gW * per_lane(lr, 3))
    else:
        W = W - per_lane(lr, 3) * gW
    if rule.train == "all":
        a, b = a - per_lane(lr, 2) * ga, b - per_lane(lr, 2) * gb
    return W, a, b


def _finish(params: Params, rule: UpdateRule) -> Params:
    W, a, b = params
    if rule.spherical:  # W is always a fresh tensor here (from _move or a mix)
        W = W.div_(torch.linalg.vector_norm(W, dim=-1, keepdim=True))
    return W, a, b


def reference_update(
    params: Params, x: torch.Tensor, y: torch.Tensor, stage: Stage
) -> tuple[Params, torch.Tensor]:
    """One update on the minibatch x (S, B, d), y (S, B) (gd: the whole fixed set). Returns the
    new parameters and the residuals f − y at the parameters before the update (S, B).

    On CPU the elementwise work runs on one thread and only the large products on all of them
    (trainer.linalg.one_thread: memory-bound ops gain little from threads and, on a shared CPU,
    lose milliseconds each waiting for a descheduled one)."""
    act, rule, lr, inner_lr = stage.act, stage.rule, stage.lr, stage.inner_lr
    with linalg.one_thread(x.device, parallel_matmuls=True):
        W = params[0]
        grads, r = gradients(params, act, x, y, rule)
        if rule.algorithm in (Algorithm.online, Algorithm.gd) or (
            rule.algorithm == Algorithm.reuse and is_zero(inner_lr)
        ):
            return _finish(_move(params, grads, lr, W, rule), rule), r
        if rule.algorithm == Algorithm.reuse:
            inner = _move(params, grads, inner_lr, W, rule)  # w' (not renormalized)
            inner_grads, _ = gradients(inner, act, x, y, rule)
            if rule.reuse_variant == "outer":
                return _finish(_move(params, inner_grads, lr, W, rule), rule), r
            # interpolate: w'' = w' − η∇̃L(w'), w ← normalize((1 − ξ) w + ξ w''), ξ = γ / η
            second = _move(inner, inner_grads, inner_lr, W, rule)
            xi = lr / inner_lr
            mixed = tuple(
                (1 - per_lane(xi, p.dim())) * p + per_lane(xi, p.dim()) * q
                for p, q in zip(params, second, strict=True)
            )
            return _finish(mixed, rule), r  # type: ignore[arg-type]
        # multipass: `passes` normalized steps on the same minibatch, the first of size lr
        current = params
        for k in range(rule.passes):
            current_grads = grads if k == 0 else gradients(current, act, x, y, rule)[0]
            current = _finish(
                _move(current, current_grads, lr if k == 0 else inner_lr, current[0], rule), rule
            )
        return current, r
