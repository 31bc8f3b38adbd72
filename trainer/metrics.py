"""What an evaluation point measures, the test set, and when to evaluate.

m_j = ⟨w_j, θ⟩ / ‖w_j‖ is neuron j's overlap with the hidden direction; Phase I success is read off
its distribution over neurons, per seed. The test MSE is only meaningful where the second layer
is fitted (train='all', or after Phase II); elsewhere it is reported as None.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import torch

from trainer import linalg, targets
from trainer.results import OVERLAP_METRICS
from trainer.schedule import Schedule

# Test samples per seed evaluated at once (bounds the (S, N, chunk) feature tensor).
TEST_CHUNK = 8192
# A test set up to this many numbers (S · samples · d) is kept in memory between evaluations;
# a larger one is redrawn from its seeds' generators at every evaluation, chunk by chunk.
TEST_CACHE_NUMBERS = 2**24


def overlaps(W: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """m (S, N) = ⟨w_j, θ⟩ / ‖w_j‖."""
    dots = (W * theta[:, None, :]).sum(-1)  # not einsum, whose kernel depends on S
    return dots / torch.linalg.vector_norm(W, dim=-1)


def overlap_metrics(m: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-seed summaries (S,) of |m| over neurons, named as results.OVERLAP_METRICS."""
    with linalg.one_thread(m.device):  # (S, N) numbers; threads only add waits on a shared CPU
        return _overlap_metrics(m)


def _overlap_metrics(m: torch.Tensor) -> dict[str, torch.Tensor]:
    am = m.abs()
    values = {
        "mean_abs_m": am.mean(1),
        # quantile, not torch.median: for even N the median is the mean of the middle two
        "median_abs_m": torch.quantile(am, 0.5, dim=1),
        "max_abs_m": am.max(1).values,
        "frac_m_05": (am >= 0.5).to(m.dtype).mean(1),
        "frac_m_09": (am >= 0.9).to(m.dtype).mean(1),
    }
    assert tuple(values) == OVERLAP_METRICS
    return values


def to_list(values: torch.Tensor | None, count: int) -> list[float | None]:
    """Per-seed floats for an EvalPoint, non-finite values as None."""
    if values is None:
        return [None] * count
    return [v if math.isfinite(v) else None for v in values.double().cpu().tolist()]


class TestSet:
    """The fixed test set of every seed, drawn from the seed's 'test' stream."""

    def __init__(
        self, target: targets.Target, seeds: Sequence[int], samples: int, device: torch.device
    ):
        self.target, self.seeds, self.samples, self.device = target, list(seeds), samples, device
        d = target.theta.shape[1]
        self._cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        if len(self.seeds) * samples * d <= TEST_CACHE_NUMBERS:
            self._cache = list(self._draw())

    def _draw(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gens = targets.generators(self.seeds, "test", self.device)
        for start in range(0, self.samples, TEST_CHUNK):
            yield self.target.sample(gens, min(TEST_CHUNK, self.samples - start))

    def chunks(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x (S, m, d), y (S, m)) chunks; the same numbers at every call."""
        return iter(self._cache) if self._cache is not None else self._draw()

    def mse(self, predict: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Mean over the test set of (f(x) − y)² per seed (S,), predict: x (S, m, d) -> (S, m)."""
        total = None
        for x, y in self.chunks():
            part = ((predict(x) - y) ** 2).sum(1)
            total = part if total is None else total + part
        assert total is not None
        return total / self.samples


def schedule(total: int, points: int, every: int | None, unit: int = 1) -> list[int]:
    """Every evaluation position of trainer.schedule.Schedule, as a sorted list (for tests and
    small schedules; the loop asks the Schedule for the next position instead)."""
    return list(Schedule(total, points, every, unit))
