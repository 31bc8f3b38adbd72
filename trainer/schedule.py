"""When a run evaluates: positions in steps, computed on demand, never all at once.

The positions are 0, the end, `points` log-spaced positions (log in samples: unit = B, or 1 for
gd), and every `every` units. `eval.every: 1` with a budget of 10^9 steps would be 10^9 positions;
`Schedule` keeps only the log grid (at most eval.points + 2 numbers) and computes the multiples.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator

import numpy as np


class Schedule:
    def __init__(self, total: int, points: int, every: int | None, unit: int = 1):
        self.total = total
        grid = {0, total}
        if total > 0:
            values = np.geomspace(1, total * unit, num=points)
            grid.update(min(total, max(1, math.ceil(v / unit - 1e-9))) for v in values)
        self.grid = sorted(grid)
        self.interval = max(1, math.ceil(every / unit)) if every and total > 0 else None

    def next_after(self, step: int) -> int:
        """The first position after `step` (the end if none is left before it)."""
        i = bisect.bisect_right(self.grid, step)
        best = self.grid[i] if i < len(self.grid) else self.total
        if self.interval is not None:
            best = min(best, (step // self.interval + 1) * self.interval)
        return min(best, self.total)

    def __contains__(self, step: int) -> bool:
        on_grid = self.grid[min(bisect.bisect_left(self.grid, step), len(self.grid) - 1)] == step
        on_interval = self.interval is not None and 0 < step <= self.total
        return on_grid or (on_interval and step % self.interval == 0)  # type: ignore[operator]

    def ordinal(self, step: int) -> int:
        """How many positions come before `step` (its index when it is a position)."""
        before_grid = bisect.bisect_left(self.grid, step)
        if self.interval is None:
            return before_grid
        multiples = (step - 1) // self.interval if step > 0 else 0
        # grid positions that are also multiples (0 excluded) were counted twice
        shared = sum(1 for p in self.grid[:before_grid] if p > 0 and p % self.interval == 0)
        return before_grid + multiples - shared

    def __iter__(self) -> Iterator[int]:
        step = -1
        while step < self.total:
            step = 0 if step < 0 else self.next_after(step)
            yield step
