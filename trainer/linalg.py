"""Batched matrix products whose result for one seed does not depend on the other seeds.

BLAS (MKL) picks its kernel by the memory alignment of each matrix (and torch a matrix-vector
kernel for a lone matrix-vector product), and a seed's block inside an
(S, …) tensor sits at an offset that depends on S and on the seed's position: the same seed then
rounds differently alone and among others, and a sweep could not add seeds later. `bmm` copies
both operands and the result into buffers where every seed's block starts on a 64-byte boundary
(one extra pass over the operands, small next to the product), and `solve` solves seed by seed on
fresh (aligned) copies.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch

ALIGN_BYTES = 64


def _aligned_empty(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """An uninitialized (S, rows, cols) tensor, rows and cols contiguous, each seed's block
    starting on an ALIGN_BYTES boundary."""
    S, rows, cols = shape
    per = max(1, ALIGN_BYTES // like.element_size())
    stride = -(-(rows * cols) // per) * per
    buffer = torch.empty(S * stride + per, dtype=like.dtype, device=like.device)
    offset = (-(buffer.data_ptr() // like.element_size())) % per
    return torch.as_strided(buffer, (S, rows, cols), (stride, cols, 1), offset)


def _is_aligned(t: torch.Tensor) -> bool:
    """Whether t (S, rows, cols) already has the blocks `_aligned_empty` gives, or their
    transposes (column-major blocks, which BLAS reads as such), every seed's block starting on an
    ALIGN_BYTES boundary: then every seed's block is handed to BLAS the same way."""
    per = max(1, ALIGN_BYTES // t.element_size())
    rows, cols = t.shape[1], t.shape[2]
    row_major = t.stride(2) == 1 and t.stride(1) == cols  # the strides a copy would have
    # transposed blocks only when neither side is 1: a size-1 side's stride is arbitrary (with
    # one seed, a permuted view can look column-major where with more it is not)
    column_major = rows > 1 and cols > 1 and t.stride(1) == 1 and t.stride(2) == rows
    return (
        (row_major or column_major)
        and t.stride(0) % per == 0
        and t.stride(0) >= rows * cols
        and t.data_ptr() % ALIGN_BYTES == 0
    )


def aligned(t: torch.Tensor) -> torch.Tensor:
    if _is_aligned(t):
        return t
    out = _aligned_empty(tuple(t.shape), t)
    out.copy_(t)
    return out


def bmm(
    a: torch.Tensor, b: torch.Tensor, subtract_from: torch.Tensor | None = None
) -> torch.Tensor:
    """a (S, m, k) @ b (S, k, n) -> (S, m, n), batch-invariant on CPU; with `subtract_from` c
    (S, m, n), c − a @ b in the same BLAS call."""
    if a.device.type != "cpu" or a.requires_grad or b.requires_grad:  # autograd: no out=
        return (
            torch.bmm(a, b)
            if subtract_from is None
            else torch.baddbmm(subtract_from, a, b, alpha=-1)
        )
    if a.shape[0] == 1 and min(a.shape[1], b.shape[2]) == 1:
        # one matrix-vector product alone takes another kernel than in a batch (other rounding):
        # compute it as a batch of two
        c = None if subtract_from is None else subtract_from.expand(2, -1, -1)
        return bmm(a.expand(2, -1, -1), b.expand(2, -1, -1), subtract_from=c)[:1]
    out = _aligned_empty((a.shape[0], a.shape[1], b.shape[2]), a)
    a, b = aligned(a), aligned(b)
    threads = _MATMUL_THREADS.get()
    parallel = threads is not None and a.shape[1] * a.shape[2] * b.shape[2] >= PARALLEL_MATMUL
    if parallel:
        torch.set_num_threads(threads)  # type: ignore[arg-type]
    try:
        if subtract_from is None:
            return torch.bmm(a, b, out=out)
        return torch.baddbmm(aligned(subtract_from), a, b, alpha=-1, out=out)
    finally:
        if parallel:
            torch.set_num_threads(1)


# Inside `one_thread(device, parallel_matmuls=True)`: the thread count products of at least
# PARALLEL_MATMUL multiply-adds per seed get back (None: every op on one thread). The threshold is
# per seed, so a seed's products run the same way alone or among others. A context variable, not
# a module global: two runs in two threads of one process each see their own setting.
PARALLEL_MATMUL = 2**20
_MATMUL_THREADS: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "silab_matmul_threads", default=None
)


@contextlib.contextmanager
def one_thread(
    device: torch.device, parallel_matmuls: bool = False, threads: int | None = None
) -> Iterator[None]:
    """Run the block on one intra-op thread when on CPU, restoring the count after (elsewhere a
    no-op). On a shared CPU every parallel op risks waiting for a descheduled worker thread
    (milliseconds), which swamps small and memory-bound ops; large products (`bmm`) may use
    `threads` (default: torch's count on entry, or the enclosing block's) with
    `parallel_matmuls`. torch's own thread count is the process's: the block sets it to one."""
    current = torch.get_num_threads()
    outer = _MATMUL_THREADS.get()
    threads = threads or (outer if current == 1 and outer else current)
    if device.type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    token = _MATMUL_THREADS.set(threads if parallel_matmuls else None)
    try:
        yield
    finally:
        _MATMUL_THREADS.reset(token)
        torch.set_num_threads(current)


def solve_ex(A: torch.Tensor, B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.linalg.solve_ex(A (S, n, n), B (S, n)) seed by seed on CPU (see the module doc)."""
    if A.device.type != "cpu":
        return torch.linalg.solve_ex(A, B)
    results = [torch.linalg.solve_ex(A[s].clone(), B[s].clone()) for s in range(A.shape[0])]
    return torch.stack([r[0] for r in results]), torch.stack([r[1] for r in results])
