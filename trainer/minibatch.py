"""The algebra of one small minibatch, shared by the chunked and the large-batch fast paths.

Every iterate inside a minibatch update is α·w − D·X_b (α per neuron, D per neuron and sample),
so its pre-activations on the same minibatch follow from u = ⟨w, x⟩ and the B×B Gram matrix (at
B = 1: u' = (1 + ηcu)u − ηc‖x‖², the closed form of shared/science.md), and so does its norm.
Same maths as trainer.reference, tested against it.
"""

from __future__ import annotations

import torch

from trainer import linalg
from trainer.reference import FAST_MAX_BATCH, Rate, UpdateRule, is_zero, per_lane
from trainer.spec import Algorithm


class _Minibatch:
    """The tensors of one minibatch inside `fast_chunk`: u = ⟨w, x_i⟩ (S, N, B) at the current
    unit w, the Gram matrix (S, B, B), labels (S, B), and the fixed per-neuron factors."""

    def __init__(self, u, gram, y, b, a_over_N, a_over_ra, act, inv_batch, clip=None):
        self.u, self.gram, self.y, self.b, self.clip = u, gram, y, b, clip
        self.a_over_N, self.a_over_ra, self.act, self.inv_batch = (
            a_over_N,
            a_over_ra,
            act,
            inv_batch,
        )

    def coefficients(self, u: torch.Tensor, lr: Rate) -> tuple[torch.Tensor, torch.Tensor]:
        """C (S, N, B) with lr·(mean gradient of neuron j) = Σ_i C_ji x_i at pre-activations u, and
        the residuals r = f − y (S, B). b None: no bias."""
        s, ds = self.act.value_and_derivative(u if self.b is None else u + self.b)
        if s.shape[-1] > FAST_MAX_BATCH:  # (1, N) @ (N, B) per seed, one read of s
            r = linalg.bmm(self.a_over_N.transpose(1, 2), s)[:, 0] - self.y  # (S, B)
        else:
            r = s.mul_(self.a_over_N).sum(1) - self.y  # (S, B)
        # lr·clamp(c, ±clip) as clamp(lr·c, ±lr·clip) (lr > 0), in place on σ' (a fresh tensor)
        step = per_lane(lr, 3) * self.inv_batch
        c = ds.mul_(self.a_over_ra * step).mul_(r[:, None, :])
        if self.clip is not None:
            c = c.clamp_(-self.clip * step, self.clip * step)
        return c, r

    def at(self, alpha: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
        """Pre-activations on the minibatch of α·w − D·X_b: α u − D G."""
        if D.shape[-1] > FAST_MAX_BATCH:
            return linalg.bmm(D, self.gram, subtract_from=alpha * self.u)
        return alpha * self.u - _times_gram(D, self.gram)

    def norm_sq(self, alpha: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
        """‖α·w − D·X_b‖² for unit w: α² − 2α Σ_i D_i u_i + D G Dᵀ."""
        return (
            alpha * alpha
            - 2 * alpha * (D * self.u).sum(-1, keepdim=True)
            + (_times_gram(D, self.gram) * D).sum(-1, keepdim=True)
        )

    def normalized(self, alpha: torch.Tensor, D: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inv = torch.rsqrt(self.norm_sq(alpha, D))
        return alpha * inv, D * inv


def _times_gram(D: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
    """D (S, N, B) @ gram (S, B, B) as a broadcast sum (B is small): not BLAS, whose rounding
    depends on memory alignment (see trainer/linalg.py)."""
    if D.shape[-1] == 1:
        return D * gram[:, :, 0:1]
    if D.shape[-1] > FAST_MAX_BATCH:  # large minibatches: the aligned BLAS product
        return linalg.bmm(D, gram)
    return (D[..., :, None] * gram[:, None, :, :]).sum(-2)


def _fast_minibatch(
    mb: _Minibatch, lr: Rate, inner_lr: Rate, rule: UpdateRule
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The update of one minibatch as w_new = α w − D X_b: returns α (S, N, 1), D (S, N, B) and
    the residuals before the update (S, B). Same maths as `reference_update`."""
    u = mb.u
    one = torch.ones_like(u[..., :1])
    if rule.algorithm == Algorithm.multipass:
        alpha, D, u_now, r0 = one, torch.zeros_like(u), u, None
        for k in range(rule.passes):
            C, r = mb.coefficients(u_now, lr if k == 0 else inner_lr)
            r0 = r if r0 is None else r0
            # step from the current unit point p = α w − D X, projected at p:
            # p − C X + (Σ C u_p) p
            s = (C * u_now).sum(-1, keepdim=True)
            alpha, D = mb.normalized(alpha * (1 + s), D * (1 + s) + C)
            u_now = mb.at(alpha, D)
        return alpha, D, r0  # type: ignore[return-value]
    alpha, D, r = _step(mb, lr, inner_lr, rule)
    return (*mb.normalized(alpha, D), r)


def _step(
    mb: _Minibatch, lr: Rate, inner_lr: Rate, rule: UpdateRule
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An online or reuse update of one minibatch before normalisation, α w − D X_b: returns
    α (S, N, 1), D (S, N, B) and the residuals before the update (S, B)."""
    u = mb.u
    if rule.algorithm == Algorithm.online or is_zero(inner_lr):
        C, r = mb.coefficients(u, lr)
        return 1 + (C * u).sum(-1, keepdim=True), C, r
    # reuse: w' = w − C1 X + (Σ C1 u) w, every gradient projected at w
    C1, r = mb.coefficients(u, inner_lr)
    s1 = (C1 * u).sum(-1, keepdim=True)
    u1 = mb.at(1 + s1, C1)
    if rule.reuse_variant == "outer":
        C2, _ = mb.coefficients(u1, lr)
        return 1 + (C2 * u).sum(-1, keepdim=True), C2, r
    C2, _ = mb.coefficients(u1, inner_lr)
    s2 = (C2 * u).sum(-1, keepdim=True)
    xi = per_lane(lr / inner_lr, 3)
    return 1 + xi * (s1 + s2), xi * (C1 + C2), r
