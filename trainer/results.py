"""What the trainer reports: evaluation points, per-seed results, the run's result. Torch-free.

These are plain dataclasses so the worker can store them and the API can describe them without
importing torch. Per-seed metrics are lists indexed like `seeds`.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Metric:
    """One metric of an evaluation point: what to call it and how to draw it. The API serves
    this list (GET /meta) and the dashboard reads it there, so a metric is named once, here."""

    name: str
    label: str
    kind: Literal["overlap", "loss"]
    # Overlaps live in [0, 1] (linear axes); losses span decades (log axes).
    log_scale: bool
    better: Literal["higher", "lower"]


# The metrics of an evaluation point, in display order; each maps to one float (or None) per
# seed. trainer/metrics.py computes the overlap ones in this order.
METRIC_INFO: tuple[Metric, ...] = (
    Metric("mean_abs_m", "mean |overlap| over neurons", "overlap", False, "higher"),
    Metric("median_abs_m", "median |overlap| over neurons", "overlap", False, "higher"),
    Metric("max_abs_m", "largest |overlap| over neurons", "overlap", False, "higher"),
    Metric("frac_m_05", "fraction of neurons with |overlap| ≥ 0.5", "overlap", False, "higher"),
    Metric("frac_m_09", "fraction of neurons with |overlap| ≥ 0.9", "overlap", False, "higher"),
    Metric("train_loss", "training loss", "loss", True, "lower"),
    Metric("test_mse", "test error (MSE)", "loss", True, "lower"),
)
# The metric curves are drawn for when nobody chose one: the overlap the paper plots.
DEFAULT_METRIC = "median_abs_m"
METRICS = tuple(m.name for m in METRIC_INFO)
OVERLAP_METRICS = tuple(m.name for m in METRIC_INFO if m.kind == "overlap")
LOSS_METRICS = tuple(m.name for m in METRIC_INFO if m.kind == "loss")
METRIC_BY_NAME = {m.name: m for m in METRIC_INFO}

Phase = Literal["phase1", "phase2"]


class RunStatus(enum.StrEnum):
    """How a run ended (db.models.Status has the same words for an experiment's end)."""

    completed = "completed"
    cancelled = "cancelled"  # should_stop() returned True
    diverged = "diverged"  # a non-finite value stopped every seed
    # The wall-clock limit stopped it (the worker records an experiment that ends so as failed,
    # with the message as its error).
    timed_out = "timed_out"


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
