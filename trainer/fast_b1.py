"""Fast path at B = 1: the chunked update in closed form, a few ops on (S, N) tensors per sample.

With w unit, u = ⟨w, x⟩ and h = ‖x‖² − u², a step (1 + E u) w − E x has pre-activation u − E h
on x and squared norm 1 + E² h. Every update is such a step (E = C₂ for outer reuse and online,
ξ(C₁ + C₂) for interpolate, one per pass for multipass), and reuse's inner point has
u' = u − C₁ h. Narrow layers (N ≤ DIRECT_MAX_WIDTH, a choice made by the spec alone) move W at
every sample; wider ones keep W_t = scale ⊙ (W − Σ coef x) and the pre-activations of the samples
still to come, from one product and the chunk's Gram matrix, laid out (K, S, N) so that a step
reads and writes contiguous slices. Same maths as trainer.reference, tested against it.
"""

from __future__ import annotations

import torch

from trainer import linalg
from trainer.reference import Params, Rate, Stage, is_zero, per_lane
from trainer.spec import Algorithm

# At B = 1 and at most this many neurons, W itself moves at every sample (a few passes over N·d
# numbers per seed) instead of going through the chunk's K×K Gram matrix.
DIRECT_MAX_WIDTH = 16

Step = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]


class _Sample:
    """The update of one sample from its pre-activations u (S, N), ‖x‖² g (S, 1), label y (S, 1).

    Step sizes and the fixed per-neuron factors are prepared once per chunk."""

    def __init__(self, params: Params, stage: Stage):
        W, a, b = params
        act, rule = stage.act, stage.rule
        self.act, self.rule, self.lr, self.inner_lr = act, rule, stage.lr, stage.inner_lr
        self.a_over_N, self.a_over_ra = a / W.shape[1], a / rule.second_layer_scale
        self.b = b if bool(b.ne(0).any()) else None  # b is fixed here: skip adding zeros
        # Python numbers as 0-dim tensors: the same rounding, without a conversion in every op
        self.one = torch.ones((), dtype=W.dtype, device=W.device)
        self.steps: dict[object, tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]] = {}

    def coefficient(
        self, u: torch.Tensor, y: torch.Tensor, step: Rate
    ) -> tuple[torch.Tensor, torch.Tensor]:
        s, ds = self.act.value_and_derivative(u if self.b is None else u + self.b)
        r = (s.mul_(self.a_over_N)).sum(1, keepdim=True).sub_(y)  # (S, 1)
        key = id(step) if isinstance(step, torch.Tensor) else step
        if key not in self.steps:  # a_over_ra·lr and ±clip·lr, once per chunk
            lane, clip = per_lane(step, 2), self.rule.clip
            bound = None if clip is None else (-clip * lane, clip * lane)
            self.steps[key] = (self.a_over_ra * lane, bound)  # type: ignore[assignment]
        factor, bound = self.steps[key]
        c = ds.mul_(factor).mul_(r)
        # lr·clamp(c, ±clip) as clamp(lr·c, ±lr·clip) (lr > 0)
        return (c if bound is None else c.clamp_(*bound)), r

    def update(self, u: torch.Tensor, g: torch.Tensor, y: torch.Tensor) -> Step:
        """(α₀, E, inv, residual): the new point is inv·(α₀ w − E x) (inv None: 1)."""
        h = torch.addcmul(g, u, u, value=-1.0)  # ‖x‖² − u²
        rule, lr, inner_lr = self.rule, self.lr, self.inner_lr
        if rule.algorithm == Algorithm.multipass:
            return self._multipass(u, g, h, y)
        if rule.algorithm == Algorithm.online or is_zero(inner_lr):
            E, residual = self.coefficient(u, y, lr)
        else:
            C1, residual = self.coefficient(u, y, inner_lr)
            u1 = torch.addcmul(u, C1, h, value=-1.0)
            if rule.reuse_variant == "outer":
                E, _ = self.coefficient(u1, y, lr)
            else:
                C2, _ = self.coefficient(u1, y, inner_lr)
                E = C1.add_(C2).mul_(per_lane(lr / inner_lr, 2))
        return torch.addcmul(self.one, E, u), E, (E * E).mul_(h).add_(self.one).rsqrt_(), residual

    def _multipass(
        self, u: torch.Tensor, g: torch.Tensor, h: torch.Tensor, y: torch.Tensor
    ) -> Step:
        # pass k from the unit point p = α w − D x with pre-activation v: p' ∝ (1 + C v) p − C x
        alpha = D = residual = None
        v, hv = u, h
        for k in range(self.rule.passes):
            C, r = self.coefficient(v, y, self.lr if k == 0 else self.inner_lr)
            residual = r if k == 0 else residual
            inv = (C * C).mul_(hv).add_(self.one).rsqrt_()
            grow = torch.addcmul(torch.ones_like(C), C, v) if k == 0 else C * v + 1.0
            alpha = grow * inv if alpha is None else alpha * grow * inv
            D = C * inv if D is None else (D * grow + C) * inv
            v = torch.addcmul(v, C, hv, value=-1.0).mul_(inv)
            hv = torch.addcmul(g, v, v, value=-1.0)
        return alpha, D, None, residual  # type: ignore[return-value]


def chunk_b1(
    params: Params, x: torch.Tensor, y: torch.Tensor, stage: Stage
) -> tuple[Params, torch.Tensor]:
    """K consecutive B = 1 updates on x (S, K, d), y (S, K); returns the new parameters and the
    residuals before each update (S, K)."""
    sample = _Sample(params, stage)
    if params[0].shape[1] <= DIRECT_MAX_WIDTH:
        return _direct(sample, params, x, y)
    W, a, b = params
    K = x.shape[1]
    xt = linalg.aligned(x.transpose(1, 2))  # (S, d, K), aligned once for both products
    P = linalg.bmm(W, xt).permute(2, 0, 1).contiguous()  # (K, S, N) at W
    G = linalg.bmm(x, xt)  # (S, K, K)
    g = torch.diagonal(G, dim1=1, dim2=2).t().contiguous()[..., None]  # (K, S, 1): ‖x_t‖²
    GT = G.permute(1, 2, 0)[..., None]  # (K, K, S, 1) view: GT[t, t'] = ⟨x_t, x_t'⟩
    yT = y.t().contiguous()[..., None]  # (K, S, 1)
    coef = torch.empty(
        K, *W.shape[:2], dtype=W.dtype, device=W.device
    )  # W_t = scale ⊙ (W − Σ coef x)
    scale = torch.ones(W.shape[:2], dtype=W.dtype, device=W.device)
    residuals = []
    for t in range(K):
        alpha, E, inv, residual = sample.update(P[t] * scale, g[t], yT[t])  # (S, N)
        grown = alpha.mul_(scale)  # α₀·scale
        coef_t = torch.div(E, grown, out=coef[t])
        scale = grown if inv is None else grown.mul_(inv)
        # keep P[t'] = (W − Σ coef x)·x_t' for the samples still to come (elementwise)
        P[t + 1 :].addcmul_(GT[t, t + 1 :], coef_t, value=-1.0)
        residuals.append(residual)
    W = linalg.bmm(coef.permute(1, 2, 0), x, subtract_from=W).mul_(scale[..., None])
    return (W, a, b), torch.cat(residuals, dim=1)


def _direct(
    sample: _Sample, params: Params, x: torch.Tensor, y: torch.Tensor
) -> tuple[Params, torch.Tensor]:
    """Narrow layers: W (S, N, d) moved in place at every sample."""
    W, a, b = params
    W = W.clone()
    xT = x.transpose(0, 1)[:, :, None, :]  # (K, S, 1, d) view
    g = (x * x).sum(-1).t().contiguous()[..., None]  # (K, S, 1): ‖x_t‖²
    yT = y.t().contiguous()[..., None]  # (K, S, 1)
    residuals = []
    for t in range(x.shape[1]):
        x_t = xT[t]  # (S, 1, d)
        alpha, E, inv, residual = sample.update(torch.linalg.vecdot(W, x_t), g[t], yT[t])
        if inv is not None:
            alpha, E = alpha.mul_(inv), E * inv
        W.mul_(alpha[..., None]).addcmul_(E[..., None], x_t, value=-1.0)
        residuals.append(residual)
    return (W, a, b), torch.cat(residuals, dim=1)
