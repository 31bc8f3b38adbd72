"""Phase I updates: online, reuse (outer or interpolate), multipass and full-batch GD.

One update consumes one minibatch x (S, B, d), y (S, B) and moves every neuron of every seed at
once. Spherical steps (spec.phase1.spherical) project each gradient on the tangent space at the
neuron's current unit vector w, (I − w wᵀ), and renormalize w after the update.

Reconstructed choice (shared/science.md leaves it open): inside one minibatch update every
gradient, including reuse's second gradient taken at w', is projected at the same w, the point
the update is applied to; multipass renormalizes after each pass and projects at the current point.
With spec.phase1.clip (UpdateRule.clip), every gradient's per-sample coefficient of x_i,
(f − y_i)·(a_j/r_a)·σ_j'(z_ij), is clipped to [−clip, clip] before the minibatch mean (both paths).

Two implementations of the same maths:
- `reference_update`: plain batched matmuls, any B, any `train`, spherical or not, and gd.
- `fast_chunk`: spherical first-layer training with small B, a whole chunk of minibatches at once.
  Every iterate inside a minibatch update is α·w − D·X_b (α per neuron, D per neuron and sample),
  so its pre-activations on the same minibatch follow from u = ⟨w, x⟩ and the B×B Gram matrix
  (at B = 1: u' = (1 + ηcu)u − ηc‖x‖², the closed form of shared/science.md), and so does its norm.
  Across a chunk of K samples, W_t = scale_t ⊙ (W_0 + Coef_t X_chunk), so every ⟨w, x_t⟩ follows from
  W_0 X_chunkᵀ and the chunk's K×K Gram matrix, both computed once by a matmul, and a rank-B
  update of the (S, N, K) table of pre-activations per step: the per-step work is O(S·N·K) on
  small tensors instead of two passes over the (S, N, d) weights. At B = 1 (`_chunk_b1`) the
  update is a few ops on (S, N) tensors (u' = u − C h, ‖·‖² = 1 + E² h, h = ‖x‖² − u²), and narrow
  layers (N ≤ DIRECT_MAX_WIDTH) move W itself instead of keeping the table. Above FAST_MAX_BATCH
  online and reuse go one minibatch at a time (`_large_batch`): reuse's inner point from the
  minibatch's Gram matrix, no second pass over W.
  On CPU the fast path runs its small ops on one thread (trainer.linalg.one_thread): on a shared
  CPU a parallel op waits for a descheduled thread, and the numbers no longer depend on the
  machine's thread count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trainer import linalg
from trainer.model import Activation

# Largest minibatch the fast path takes chunk by chunk; above it online and reuse updates go one
# minibatch at a time through `_large_batch` (multipass through the reference path).
FAST_MAX_BATCH = 8


@dataclass(frozen=True)
class UpdateRule:
    """The fixed parts of a Phase I update, from spec.phase1 and spec.model."""

    algorithm: str  # online | reuse | multipass | gd
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
            and self.algorithm != "gd"
            and (batch_size <= FAST_MAX_BATCH or self.algorithm != "multipass")
        )


Params = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # W (S, N, d), a (S, N), b (S, N)

# A step size: one number for every lane, or one per lane (S,) (trainer.fused runs experiments
# with different step sizes as lanes of one program). Both forms give the same numbers: a Python
# number is rounded to the tensor's dtype by every op, as a per-lane tensor already is.
Rate = float | torch.Tensor


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


def _project(base: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """(I − w wᵀ) g for every neuron, w = base rows (unit)."""
    return g - torch.linalg.vecdot(g, base)[..., None] * base


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
    params: Params,
    act: Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: Rate,
    inner_lr: Rate,
    rule: UpdateRule,
) -> tuple[Params, torch.Tensor]:
    """One update on the minibatch x (S, B, d), y (S, B) (gd: the whole fixed set). Returns the
    new parameters and the residuals f − y at the parameters before the update (S, B).

    On CPU the elementwise work runs on one thread and only the large products on all of them
    (trainer.linalg.one_thread: memory-bound ops gain little from threads and, on a shared CPU,
    lose milliseconds each waiting for a descheduled one)."""
    with linalg.one_thread(x.device, parallel_matmuls=True):
        return _reference_update(params, act, x, y, lr, inner_lr, rule)


def _reference_update(
    params: Params,
    act: Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: Rate,
    inner_lr: Rate,
    rule: UpdateRule,
) -> tuple[Params, torch.Tensor]:
    W = params[0]
    grads, r = gradients(params, act, x, y, rule)
    if rule.algorithm in ("online", "gd") or (rule.algorithm == "reuse" and is_zero(inner_lr)):
        return _finish(_move(params, grads, lr, W, rule), rule), r
    if rule.algorithm == "reuse":
        inner = _move(params, grads, inner_lr, W, rule)  # w' (not renormalized)
        inner_grads, _ = gradients(inner, act, x, y, rule)
        if rule.reuse_variant == "outer":
            return _finish(_move(params, inner_grads, lr, W, rule), rule), r
        # interpolate: w'' = w' − η∇̃L(w'), w ← normalize((1 − ξ) w + ξ w''), ξ = γ / η
        second = _move(inner, inner_grads, inner_lr, W, rule)
        xi = lr / inner_lr
        mixed = tuple(
            (1 - per_lane(xi, p.dim())) * p + per_lane(xi, p.dim()) * q
            for p, q in zip(params, second)
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


# ------------------------------------------------------------------------------------------ fast
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
    if rule.algorithm == "multipass":
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
    if rule.algorithm == "online" or is_zero(inner_lr):
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


def fast_chunk(
    params: Params,
    act: Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    lr: Rate,
    inner_lr: Rate,
    rule: UpdateRule,
) -> tuple[Params, torch.Tensor]:
    """K/B consecutive updates on the chunk x (S, K, d), y (S, K), B = batch_size, for spherical
    first-layer training (rule.fast(B)). Returns the new parameters and the residuals before each
    update (S, K), exactly as K/B calls of `reference_update` would (up to rounding).

    On CPU the chunk runs on one thread: its per-step tensors are small, and on a shared CPU a
    parallel region waits for a descheduled worker thread (milliseconds per op). It also makes
    the numbers independent of the machine's thread count. Above FAST_MAX_BATCH the products
    are large and keep all threads."""
    large = batch_size > FAST_MAX_BATCH
    with linalg.one_thread(x.device, parallel_matmuls=large):
        if large:
            return _large_batch(params, act, x, y, batch_size, lr, inner_lr, rule)
        if batch_size == 1:
            return _chunk_b1(params, act, x, y, lr, inner_lr, rule)
        return _chunk(params, act, x, y, batch_size, lr, inner_lr, rule)


def _large_batch(
    params: Params,
    act: Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    lr: Rate,
    inner_lr: Rate,
    rule: UpdateRule,
) -> tuple[Params, torch.Tensor]:
    """Online and reuse updates of large minibatches one at a time: the pre-activations at W from
    one product, reuse's inner point from the minibatch's Gram matrix (no second pass over W),
    and the new W = α W − D X_b in one product, normalized by a pass over it."""
    W, a, b = params
    N = W.shape[1]
    B = batch_size
    b3 = b[..., None] if bool(b.ne(0).any()) else None  # b is fixed here
    a_over_N, a_over_ra = a[..., None] / N, a[..., None] / rule.second_layer_scale
    online = rule.algorithm == "online" or is_zero(inner_lr)
    residuals = []
    for i in range(0, x.shape[1], B):
        xb, yb = x[:, i : i + B], y[:, i : i + B]
        u = linalg.bmm(W, xb.transpose(1, 2))  # (S, N, B)
        gram = None if online else linalg.bmm(xb, xb.transpose(1, 2))  # (S, B, B)
        mb = _Minibatch(u, gram, yb, b3, a_over_N, a_over_ra, act, 1.0 / B, rule.clip)
        alpha, D, r = _step(mb, lr, inner_lr, rule)
        W = linalg.bmm(D, xb, subtract_from=W * alpha)
        W = W.div_(torch.linalg.vector_norm(W, dim=-1, keepdim=True))
        residuals.append(r)
    return (W, a, b), torch.cat(residuals, dim=1)


def _chunk(
    params: Params,
    act: Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    lr: Rate,
    inner_lr: Rate,
    rule: UpdateRule,
) -> tuple[Params, torch.Tensor]:
    W, a, b = params
    S, K, _ = x.shape
    N = W.shape[1]
    B = batch_size
    P = linalg.bmm(W, x.transpose(1, 2))  # (S, N, K): ⟨w_j, x_t⟩ at the chunk's start
    G = linalg.bmm(x, x.transpose(1, 2))  # (S, K, K)
    scale = torch.ones(S, N, 1, dtype=W.dtype, device=W.device)
    coef = torch.zeros(S, N, K, dtype=W.dtype, device=W.device)  # W_t = scale ⊙ (W + coef X)
    b3, a_over_N, a_over_ra = b[..., None], a[..., None] / N, a[..., None] / rule.second_layer_scale
    residuals = []
    for i in range(0, K, B):
        mb = _Minibatch(
            scale * P[:, :, i : i + B],
            G[:, i : i + B, i : i + B],
            y[:, i : i + B],
            b3,
            a_over_N,
            a_over_ra,
            act,
            1.0 / B,
            rule.clip,
        )
        alpha, D, r = _fast_minibatch(mb, lr, inner_lr, rule)
        # α W_t − D X_b = (scale α) ⊙ (W + coef X − D X_b / (scale α))
        scale = scale * alpha
        new = -D / scale  # (S, N, B)
        coef[:, :, i : i + B] = new
        # keep P[:, :, t] = (W + coef X)·x_t for the samples still to come: an elementwise
        # rank-B update (not BLAS, whose rounding would depend on alignment, trainer/linalg.py)
        for k in range(B):
            P[:, :, i + B :].addcmul_(new[:, :, k : k + 1], G[:, None, i + k, i + B :])
        residuals.append(r)
    W = scale * (W + linalg.bmm(coef, x))
    return (W, a, b), torch.cat(residuals, dim=1)


# At B = 1 and at most this many neurons, `_chunk_b1` updates W itself at every sample (a few
# passes over N·d numbers per seed) instead of going through the chunk's K×K Gram matrix.
DIRECT_MAX_WIDTH = 16


def _chunk_b1(
    params: Params,
    act: Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: Rate,
    inner_lr: Rate,
    rule: UpdateRule,
) -> tuple[Params, torch.Tensor]:
    """`_chunk` at B = 1 in closed form, a few ops on (S, N) tensors per sample.

    With w unit, u = ⟨w, x⟩ and h = ‖x‖² − u², a step (1 + E u) w − E x has pre-activation
    u − E h on x and squared norm 1 + E² h. Every update is such a step (E = C₂ for outer reuse
    and online, ξ(C₁ + C₂) for interpolate, one per pass for multipass), and reuse's inner point
    has u' = u − C₁ h. Narrow layers (N ≤ DIRECT_MAX_WIDTH, a choice made by the spec alone) move
    W at every sample; wider ones keep W_t = scale ⊙ (W − Σ coef x) and the pre-activations of
    the samples still to come, from one product and the chunk's Gram matrix, laid out (K, S, N)
    so that a step reads and writes contiguous slices."""
    W, a, b = params
    S, K, _ = x.shape
    N = W.shape[1]
    direct = N <= DIRECT_MAX_WIDTH
    if direct:
        W = W.clone()  # (S, N, d), moved in place
        xT = x.transpose(0, 1)[:, :, None, :]  # (K, S, 1, d) view
        g = (x * x).sum(-1).t().contiguous()[..., None]  # (K, S, 1): ‖x_t‖²
    else:
        xt = linalg.aligned(x.transpose(1, 2))  # (S, d, K), aligned once for both products
        P = linalg.bmm(W, xt).permute(2, 0, 1).contiguous()  # (K, S, N) at W
        G = linalg.bmm(x, xt)  # (S, K, K)
        g = torch.diagonal(G, dim1=1, dim2=2).t().contiguous()[..., None]  # (K, S, 1): ‖x_t‖²
        GT = G.permute(1, 2, 0)[..., None]  # (K, K, S, 1) view: GT[t, t'] = ⟨x_t, x_t'⟩
        coef = torch.empty(K, S, N, dtype=W.dtype, device=W.device)  # W_t = scale ⊙ (W − Σ coef x)
        scale = torch.ones(S, N, dtype=W.dtype, device=W.device)
    yT = y.t().contiguous()[..., None]  # (K, S, 1)
    a_over_N = a / N
    a_over_ra = a / rule.second_layer_scale
    clip = rule.clip
    # Python numbers as 0-dim tensors: the same rounding, without a conversion in every op
    one = torch.ones((), dtype=W.dtype, device=W.device)
    steps: dict = {}  # lr -> (a_over_ra·lr, ±clip·lr), once per chunk
    biased = bool(b.ne(0).any())  # b is fixed here (first-layer training): skip adding zeros

    def coefficient(
        u: torch.Tensor, y_t: torch.Tensor, step: Rate
    ) -> tuple[torch.Tensor, torch.Tensor]:
        s, ds = act.value_and_derivative(u + b if biased else u)
        r = (s.mul_(a_over_N)).sum(1, keepdim=True).sub_(y_t)  # (S, 1)
        key = id(step) if isinstance(step, torch.Tensor) else step
        if key not in steps:
            lane = per_lane(step, 2)
            bound = None if clip is None else (-clip * lane, clip * lane)
            steps[key] = (a_over_ra * lane, bound)
        factor, bound = steps[key]
        c = ds.mul_(factor).mul_(r)
        # lr·clamp(c, ±clip) as clamp(lr·c, ±lr·clip) (lr > 0)
        return (c if bound is None else c.clamp_(*bound)), r

    def update(u: torch.Tensor, g_t: torch.Tensor, y_t: torch.Tensor):
        """(α₀, E, inv, residual): the new point is inv·(α₀ w − E x) (inv None: 1)."""
        h = torch.addcmul(g_t, u, u, value=-1.0)  # ‖x‖² − u²
        if rule.algorithm == "multipass":
            # pass k from the unit point p = α w − D x with pre-activation v: p' ∝ (1 + C v) p − C x
            alpha, D, v, hv = None, None, u, h
            for k in range(rule.passes):
                C, r = coefficient(v, y_t, lr if k == 0 else inner_lr)
                if k == 0:
                    residual = r
                inv = (C * C).mul_(hv).add_(one).rsqrt_()
                grow = torch.addcmul(torch.ones_like(C), C, v) if k == 0 else C * v + 1.0
                alpha = grow * inv if alpha is None else alpha * grow * inv
                D = C * inv if D is None else (D * grow + C) * inv
                v = torch.addcmul(v, C, hv, value=-1.0).mul_(inv)
                hv = torch.addcmul(g_t, v, v, value=-1.0)
            return alpha, D, None, residual
        if rule.algorithm == "online" or is_zero(inner_lr):
            E, residual = coefficient(u, y_t, lr)
        else:
            C1, residual = coefficient(u, y_t, inner_lr)
            u1 = torch.addcmul(u, C1, h, value=-1.0)
            if rule.reuse_variant == "outer":
                E, _ = coefficient(u1, y_t, lr)
            else:
                C2, _ = coefficient(u1, y_t, inner_lr)
                E = C1.add_(C2).mul_(per_lane(lr / inner_lr, 2))
        return torch.addcmul(one, E, u), E, (E * E).mul_(h).add_(one).rsqrt_(), residual

    residuals = []
    for t in range(K):
        if direct:
            x_t = xT[t]  # (S, 1, d)
            alpha, E, inv, residual = update(torch.linalg.vecdot(W, x_t), g[t], yT[t])
            if inv is not None:
                alpha, E = alpha.mul_(inv), E * inv
            W.mul_(alpha[..., None]).addcmul_(E[..., None], x_t, value=-1.0)
        else:
            alpha, E, inv, residual = update(P[t] * scale, g[t], yT[t])  # (S, N)
            grown = alpha.mul_(scale)  # α₀·scale
            coef_t = torch.div(E, grown, out=coef[t])
            scale = grown if inv is None else grown.mul_(inv)
            # keep P[t'] = (W − Σ coef x)·x_t' for the samples still to come (elementwise)
            P[t + 1 :].addcmul_(GT[t, t + 1 :], coef_t, value=-1.0)
        residuals.append(residual)
    if not direct:
        W = linalg.bmm(coef.permute(1, 2, 0), x, subtract_from=W).mul_(scale[..., None])
    return (W, a, b), torch.cat(residuals, dim=1)
