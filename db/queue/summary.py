"""The summary columns of `experiment` (db.models.ExperimentSummary), which `finish` fills from
a run's result, and the result made storable as JSON (`json_safe`)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any


def summary_from_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """The summary columns from a result dict (trainer.results.Result.to_dict()). Pure dict work.

    - final_mean_abs_m, final_median_abs_m, final_max_abs_m, test_mse: the median over seeds of
      the per-seed values, ignoring seeds where it is missing or not finite (None if none has one).
    - weak_recovery_samples: the median over ALL seeds, a seed that never reached weak recovery
      counting as +infinity; None when that median is infinite, i.e. when half of the seeds or
      more never reached it. So it reads "the typical seed reached weak recovery after this many
      samples", and is never flattered by leaving out the seeds that failed.
    - weak_recovery_fraction: the fraction of seeds that reached weak recovery (None if no seeds).
    - held_recovery_samples, held_recovery_fraction: the same for held recovery (median |m|
      reached eval.held_threshold and never fell below eval.held_floor afterwards). Every
      censored seed is censored at the same budget, beyond every observed time, so this median
      is the Kaplan–Meier median whenever it is not itself censored.
    - wall_time_s, samples_per_second, device, torch_version: copied (non-finite → None).
    """
    seeds = list(result.get("seeds") or [])
    summary: dict[str, Any] = {}
    for column in ("final_mean_abs_m", "final_median_abs_m", "final_max_abs_m", "test_mse"):
        values = [v for v in (_finite_or_none(s.get(column)) for s in seeds) if v is not None]
        summary[column] = statistics.median(values) if values else None
    for name in ("weak_recovery", "held_recovery"):
        if seeds:
            reached = [_finite_or_none(s.get(f"{name}_samples")) for s in seeds]
            median = statistics.median([math.inf if v is None else v for v in reached])
            summary[f"{name}_samples"] = median if math.isfinite(median) else None
            summary[f"{name}_fraction"] = sum(v is not None for v in reached) / len(seeds)
        else:
            summary[f"{name}_samples"] = None
            summary[f"{name}_fraction"] = None
    summary["wall_time_s"] = _finite_or_none(result.get("wall_time_s"))
    summary["samples_per_second"] = _finite_or_none(result.get("samples_per_second"))
    summary["device"] = _short(result.get("device"))
    summary["torch_version"] = _short(result.get("torch_version"))
    return summary


def json_safe(value: Any) -> Any:
    """Replace non-finite floats by None (PostgreSQL's JSON has no NaN or Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _short(value: Any) -> str | None:
    return None if value is None else str(value)[:64]
