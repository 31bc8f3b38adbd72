"""The shapes of the trace store: a Series of one seed's points in one phase, a stored
ChunkRow, and the Chunk being filled (encoded by db.tracecodec)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from db import tracecodec

# Points per chunk. Part of every chunk's key (ordinal // CHUNK_POINTS): changing it needs a
# migration that rechunks. 2048 points of 7 metrics are ~150 kB raw, a few ms to encode.
CHUNK_POINTS = 2048
# The two integer columns of every block; every other column is a float64 metric.
KEYS = ("step", "samples")


@dataclass
class Series:
    """Consecutive points of one seed in one phase: `columns` holds step, samples (int64) and
    float64 metrics (NaN: not measured), all of equal length, ordered by step."""

    experiment_id: int
    seed: int
    phase: str
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["step"])


@dataclass
class ChunkRow:
    seed: int
    phase: str
    chunk: int
    first_step: int
    last_step: int
    points: int
    data: bytes


@dataclass
class Chunk:
    """A chunk being filled: its (step, samples, metrics) rows in step order."""

    rows: list[tuple[int, int, dict[str, float]]] = field(default_factory=list)

    def encode(self, seed: int, phase: str, chunk: int) -> ChunkRow:
        names = list(dict.fromkeys(name for _, _, values in self.rows for name in values))
        columns: dict[str, np.ndarray] = {
            "step": np.array([row[0] for row in self.rows], dtype=np.int64),
            "samples": np.array([row[1] for row in self.rows], dtype=np.int64),
        }
        for name in names:
            columns[name] = np.array(
                [row[2].get(name, math.nan) for row in self.rows], dtype=np.float64
            )
        first, last = self.rows[0][0], self.rows[-1][0]
        data = tracecodec.encode(columns)
        return ChunkRow(seed, phase, chunk, first, last, len(self.rows), data)


def stored_value(value: float | None) -> float:
    """NaN for "not measured"; a non-finite number (inf) is stored as not measured too."""
    if value is None:
        return math.nan
    value = float(value)
    return value if math.isfinite(value) else math.nan
