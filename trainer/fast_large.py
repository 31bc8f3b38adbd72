"""Fast path for large minibatches (B > FAST_MAX_BATCH): online and reuse, one minibatch at a
time, reuse's inner point from the minibatch's Gram matrix (no second pass over W)."""

from __future__ import annotations

import torch

from trainer import linalg
from trainer.minibatch import _Minibatch, _step
from trainer.reference import Params, Stage, is_zero
from trainer.spec import Algorithm


def large_batch(
    params: Params, x: torch.Tensor, y: torch.Tensor, batch_size: int, stage: Stage
) -> tuple[Params, torch.Tensor]:
    """Online and reuse updates of large minibatches one at a time: the pre-activations at W from
    one product, reuse's inner point from the minibatch's Gram matrix (no second pass over W),
    and the new W = α W − D X_b in one product, normalized by a pass over it."""
    act, rule, lr, inner_lr = stage.act, stage.rule, stage.lr, stage.inner_lr
    W, a, b = params
    N = W.shape[1]
    B = batch_size
    b3 = b[..., None] if bool(b.ne(0).any()) else None  # b is fixed here
    a_over_N, a_over_ra = a[..., None] / N, a[..., None] / rule.second_layer_scale
    online = rule.algorithm == Algorithm.online or is_zero(inner_lr)
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
