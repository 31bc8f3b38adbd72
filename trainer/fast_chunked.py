"""Fast path for small minibatches (1 < B ≤ FAST_MAX_BATCH): a whole chunk of K samples at once.

Across a chunk, W_t = scale_t ⊙ (W_0 + Coef_t X_chunk), so every ⟨w, x_t⟩ follows from W_0 X_chunkᵀ
and the chunk's K×K Gram matrix, both computed once by a matmul, and a rank-B update of the
(S, N, K) table of pre-activations per step: the per-step work is O(S·N·K) on small tensors
instead of two passes over the (S, N, d) weights.
"""

from __future__ import annotations

import torch

from trainer import linalg
from trainer.minibatch import _fast_minibatch, _Minibatch
from trainer.reference import Params, Stage


def chunked(
    params: Params, x: torch.Tensor, y: torch.Tensor, batch_size: int, stage: Stage
) -> tuple[Params, torch.Tensor]:
    act, rule, lr, inner_lr = stage.act, stage.rule, stage.lr, stage.inner_lr
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
    # Back onto the sphere: every step's norm above assumes a unit w, so a rounding error in
    # ‖w‖ is never corrected inside the chunk and, left in W, is carried into the next one.
    # Steps with |α| > 1 amplify it; in float32 at ηd ≈ 1 (Figure 1(a) at d = 16, 32) it grew
    # from 1e-7 to 1e-3 in ~240 chunks and then made ‖·‖² negative (a NaN, 'diverged').
    W = W.div_(torch.linalg.vector_norm(W, dim=-1, keepdim=True))
    return (W, a, b), torch.cat(residuals, dim=1)
