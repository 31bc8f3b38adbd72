"""What the trainer reports: evaluation points, per-seed results, the run's result. Torch-free.

These are plain dataclasses so the worker can store them and the API can describe them without
importing torch. Per-seed metrics are lists indexed like `seeds`.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

# The metric names of an evaluation point; each maps to one float (or None) per seed.
OVERLAP_METRICS = ("mean_abs_m", "median_abs_m", "max_abs_m", "frac_m_05", "frac_m_09")
METRICS = (*OVERLAP_METRICS, "train_loss", "test_mse")

Phase = Literal["phase1", "phase2"]


class RunStatus(enum.StrEnum):
    """How a run ended (db.models.Status has the same words for an experiment's end)."""

    completed = "completed"
    cancelled = "cancelled"  # should_stop() returned True
    diverged = "diverged"  # a non-finite value stopped every seed


@dataclass
class EvalPoint:
    """Metrics of every seed at one moment of training.

    `samples` counts fresh samples drawn so far (a reused minibatch counts once; gd counts its
    fixed set once), `step` counts gradient steps (outer updates; reuse's inner step is not
    counted). Phase II emits one point with `step` = Phase I's last step.
    """

    phase: Phase
    step: int
    samples: int
    seeds: list[int]
    metrics: dict[str, list[float | None]]


@dataclass
class SeedResult:
    seed: int
    weak_recovery_samples: int | None
    final_mean_abs_m: float | None
    final_median_abs_m: float | None
    final_max_abs_m: float | None
    final_frac_m_09: float | None
    test_mse: float | None
    phase2_ridge: float | None = None
    diverged_at_step: int | None = None
    # The step at which weak recovery was first seen (gd: its only meaningful clock, since gd's
    # sample count is its fixed n throughout).
    weak_recovery_step: int | None = None
    # trainer/recovery.py: first passage of median |m| per threshold (keys like '0.3'), and the
    # start of a held recovery; None = never within the run (right-censored at Result.samples).
    first_passage_samples: dict[str, int | None] = field(default_factory=dict)
    held_recovery_samples: int | None = None


@dataclass
class Result:
    status: RunStatus
    message: str
    seeds: list[SeedResult]
    samples: int
    steps: int
    wall_time_s: float
    device: str
    torch_version: str
    samples_per_second: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Callbacks(Protocol):
    """How a run talks to the outside world. The trainer does no I/O of its own."""

    def on_eval(self, point: EvalPoint) -> None: ...

    def should_stop(self) -> bool: ...

    def on_checkpoint(self, state: dict[str, Any]) -> None: ...


class NoCallbacks:
    """Callbacks that listen to nothing and never stop the run."""

    def on_eval(self, point: EvalPoint) -> None:
        pass

    def should_stop(self) -> bool:
        return False

    def on_checkpoint(self, state: dict[str, Any]) -> None:
        pass
