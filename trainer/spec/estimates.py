"""What a spec will cost before it runs: its trace points and its peak memory."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from trainer.schedule import Schedule
from trainer.spec.phase1 import Algorithm
from trainer.spec.resolving import Resolved, resolve

if TYPE_CHECKING:
    from trainer.spec.experiment import ExperimentSpec


def trace_points(spec: ExperimentSpec, resolved: Resolved | None = None) -> int:
    """Trace points the run stores: per seed, every Phase I evaluation position (the log grid
    plus every `eval.every`; counted, never listed) and Phase II's one point. `every: 1` on a
    large budget is what makes this big."""
    r = resolved or resolve(spec)
    unit = 1 if spec.phase1.algorithm == Algorithm.gd else r.B
    per_seed = _positions(r.total_steps, spec.eval.points, r.every, unit)
    per_seed += 1 if spec.phase2 is not None else 0
    return len(spec.seed_list) * per_seed


@functools.lru_cache(maxsize=1024)
def _positions(total_steps: int, points: int, every: int | None, unit: int) -> int:
    # Cached: the log grid costs a numpy geomspace, and a bulk submit's specs share a few budgets.
    return Schedule(total_steps, points, every, unit).ordinal(total_steps) + 1


# Chunk sizes of the trainer (trainer/cohort.py, metrics.py, phase2.py), repeated here because
# trainer.spec must not import torch: numbers per seed drawn at once in Phase I's reference path
# and in Phase II, test samples evaluated at once, and the largest test set kept between
# evaluations.
_CHUNK_NUMBERS = 2**20
_CHUNK_STEPS = 256
_TEST_CHUNK = 8192
_TEST_CACHE_NUMBERS = 2**24


def memory_estimate_bytes(spec: ExperimentSpec, resolved: Resolved | None = None) -> int:
    """A generous estimate of peak memory, in bytes, from the trainer's chunk sizes; measured
    against the peak of real runs (tests/trainer/test_memory_estimate.py: within 2×).

    Per seed, in numbers of the spec's dtype: W, a, b and their update temporaries (6·N·d); the
    test set kept between evaluations (when S·test·d ≤ 2^24) and one evaluation chunk of at most
    8192 samples with its features (m·(d + 3N)); then the larger of the two phases, which never
    hold their temporaries at once: Phase I's chunk of samples (≤ 256 steps and ≤ 2^20 numbers,
    at least one minibatch) with pre-activations of both reuse steps (m·(d + 4N)), or gd's fixed
    set (n·(d + 4N)); Phase II's chunk of ≤ 2^20/d samples with its features in the dtype and in
    float64 (m·(d + 2N) + 2·2N·m) and three float64 N×N normal-equation matrices plus the solve's
    temporaries (6·N², doubled from float64).
    """
    r = resolved or resolve(spec)
    S = len(spec.seed_list)
    itemsize = 8 if spec.dtype == "float64" else 4
    wide = 8 // itemsize  # float64 numbers in units of the dtype
    d, N, B = spec.d, r.N, r.B
    per_seed = 6 * N * d
    test = spec.eval.test_samples
    if S * test * d <= _TEST_CACHE_NUMBERS:
        per_seed += test * (d + 1)
    per_seed += min(test, _TEST_CHUNK) * (d + 3 * N)
    if r.n is not None:
        phase1 = r.n * (d + 4 * N)
    else:
        steps = max(1, min(_CHUNK_STEPS, _CHUNK_NUMBERS // max(1, B * d)))
        phase1 = B * steps * (d + 4 * N)
    phase2 = 0
    if r.phase2_samples is not None:
        m = min(r.phase2_samples, max(1, _CHUNK_NUMBERS // d))
        phase2 = m * (d + 2 * N) + wide * (2 * 2 * N * m + 6 * N * N)
    per_seed += max(phase1, phase2)
    # The terms count every temporary as if all were alive at once; the allocator frees most
    # within a chunk. Measured peaks (CPU RSS) were 0.42–0.47 of the sum, so 0.7 of it keeps the
    # estimate above the peak with room and within 2× of it.
    return int(S * per_seed * itemsize * 0.7)
