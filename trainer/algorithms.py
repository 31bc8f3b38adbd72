"""Phase I updates: online, reuse (outer or interpolate), multipass and full-batch GD.

Two implementations of the same maths:
- the reference (trainer/reference.py, `reference_update`): plain batched matmuls, any B, any
  `train`, spherical or not, and gd. It is the definition; read it first.
- the fast paths, for spherical first-layer training, a whole chunk of minibatches per call
  (`fast_chunk`), each in its own module and tested against the reference
  (tests/trainer/test_algorithms.py):
  - B = 1: trainer/fast_b1.py, the closed form (u' = u − C h, ‖·‖² = 1 + E² h);
  - 1 < B ≤ FAST_MAX_BATCH: trainer/fast_chunked.py, the chunk's K×K Gram matrix;
  - B > FAST_MAX_BATCH: trainer/fast_large.py, one minibatch at a time from its Gram matrix.
  On CPU the fast paths run their small ops on one thread (trainer.linalg.one_thread): on a
  shared CPU a parallel op waits for a descheduled thread, and the numbers no longer depend on
  the machine's thread count.

Step sizes are a number or one number per lane (`Rate`, see trainer.reference).
"""

from __future__ import annotations

import torch

from trainer import linalg
from trainer.fast_b1 import DIRECT_MAX_WIDTH, chunk_b1
from trainer.fast_chunked import chunked
from trainer.fast_large import large_batch
from trainer.reference import (
    FAST_MAX_BATCH,
    Params,
    Rate,
    Stage,
    UpdateRule,
    _move,
    gradients,
    is_zero,
    per_lane,
    reference_update,
)

__all__ = [
    "DIRECT_MAX_WIDTH",
    "FAST_MAX_BATCH",
    "Params",
    "Rate",
    "Stage",
    "UpdateRule",
    "_move",
    "fast_chunk",
    "gradients",
    "is_zero",
    "per_lane",
    "reference_update",
]


def fast_chunk(
    params: Params, x: torch.Tensor, y: torch.Tensor, batch_size: int, stage: Stage
) -> tuple[Params, torch.Tensor]:
    """K/B consecutive updates on the chunk x (S, K, d), y (S, K), B = batch_size, for spherical
    first-layer training (rule.fast(B)). Returns the new parameters and the residuals before each
    update (S, K), exactly as K/B calls of `reference_update` would (up to rounding).

    On CPU the chunk runs on one thread: its per-step tensors are small. Above FAST_MAX_BATCH
    the products are large and keep all threads."""
    large = batch_size > FAST_MAX_BATCH
    with linalg.one_thread(x.device, parallel_matmuls=large):
        if large:
            return large_batch(params, x, y, batch_size, stage)
        if batch_size == 1:
            return chunk_b1(params, x, y, stage)
        return chunked(params, x, y, batch_size, stage)
