"""Recovery criteria read off a seed's trace of median_j |m_j|. Torch-free.

Two criteria (shared/science.md, "The online baseline must be tuned per d"):
- first passage: the first evaluated sample count at which median |m| ≥ a threshold (one per
  threshold of `eval.thresholds`, default 0.3 and 0.5). At a step whose stable overlap sits
  below the threshold, this is the first passage of a fluctuation, not a recovery.
- held recovery: the first sample count at which median |m| ≥ `held_threshold` (0.5) after which
  it never falls below `held_floor` (0.3) again, up to the end of the run. A seed whose overlap
  touches 0.5 and falls back has not recovered in this sense. It is only known at the end.

A seed with no crossing is right-censored at the run's budget (its sample count at the end);
the service's statistics treat it so (api/survival.py), never as a missing value.

`Tracker` follows S seeds evaluation point by evaluation point (and goes into a checkpoint);
`first_passage` and `held` compute the same numbers from a whole stored trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Criteria:
    thresholds: tuple[float, ...] = (0.3, 0.5)
    held_threshold: float = 0.5
    held_floor: float = 0.3


def threshold_key(threshold: float) -> str:
    """The name of a threshold in results and JSON: 0.3 → '0.3' (shortest round-trip form)."""
    return repr(float(threshold))


class Tracker:
    """First passages and held recovery of S seeds, updated at each evaluation point."""

    def __init__(self, criteria: Criteria, seeds: int):
        self.criteria = criteria
        self.first: dict[str, list[int | None]] = {
            threshold_key(t): [None] * seeds for t in criteria.thresholds
        }
        # The start of the current run of points at or above the floor that reached the held
        # threshold; reset to None whenever median |m| drops below the floor.
        self.held: list[int | None] = [None] * seeds

    def update(self, samples: int, medians: Sequence[float | None]) -> None:
        """One evaluation point: median |m| per seed (None: not finite, counts as below)."""
        c = self.criteria
        for t in c.thresholds:
            first = self.first[threshold_key(t)]
            for s, m in enumerate(medians):
                if first[s] is None and m is not None and m >= t:
                    first[s] = samples
        for s, m in enumerate(medians):
            if m is None or m < c.held_floor:
                self.held[s] = None
            elif self.held[s] is None and m >= c.held_threshold:
                self.held[s] = samples

    def state(self) -> dict[str, Any]:
        return {"first": {k: list(v) for k, v in self.first.items()}, "held": list(self.held)}

    def load(self, state: dict[str, Any]) -> None:
        self.first = {k: list(v) for k, v in state["first"].items()}
        self.held = list(state["held"])

    def seed(self, index: int) -> tuple[dict[str, int | None], int | None]:
        """(first passage per threshold key, held recovery) of one seed."""
        return {k: v[index] for k, v in self.first.items()}, self.held[index]


def first_passage(
    samples: Sequence[int], medians: Sequence[float | None], threshold: float
) -> int | None:
    """The first sample count whose median |m| ≥ threshold; None if none (censored)."""
    for n, m in zip(samples, medians, strict=True):
        if m is not None and m >= threshold:
            return n
    return None


def held(
    samples: Sequence[int], medians: Sequence[float | None], threshold: float, floor: float
) -> int | None:
    """The first sample count with median |m| ≥ threshold after which it never falls below
    floor to the end of the trace; None if there is none (censored)."""
    tracker = Tracker(Criteria((), threshold, floor), 1)
    for n, m in zip(samples, medians, strict=True):
        tracker.update(n, [m])
    return tracker.held[0]
