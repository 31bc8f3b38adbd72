"""Readable names for what plots and the dashboard show: the trace metrics (named once, in
trainer.results), the results a sweep aggregates per seed, and spec field paths. GET /meta serves
them, so the dashboard holds no copy; the server's own figures label their axes with label()."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from trainer.results import METRIC_BY_NAME


@dataclass(frozen=True)
class Field:
    """A result a row or a sweep cell carries: its label, and how to colour or sort it."""

    name: str
    label: str
    better: Literal["higher", "lower"]
    log_scale: bool


def _of_metric(name: str, metric: str, label: str) -> Field:
    """A result that is a metric's value at the end: its direction and scale are the metric's."""
    of = METRIC_BY_NAME[metric]
    return Field(name, label, of.better, of.log_scale)


# Results of an experiment (medians over its seeds) and of a sweep's seeds (api/sweep_cells).
FIELDS: tuple[Field, ...] = (
    _of_metric("final_mean_abs_m", "mean_abs_m", "final mean |overlap|"),
    _of_metric("final_median_abs_m", "median_abs_m", "final median |overlap|"),
    _of_metric("final_max_abs_m", "max_abs_m", "final largest |overlap|"),
    _of_metric("final_frac_m_09", "frac_m_09", "final fraction of neurons ≥ 0.9"),
    _of_metric("test_mse", "test_mse", METRIC_BY_NAME["test_mse"].label),
    Field("weak_recovery_samples", "samples to weak recovery", "lower", True),
    Field("weak_recovery_step", "steps to weak recovery", "lower", True),
    Field("recovered", "fraction of seeds recovered", "higher", False),
    Field("diverged", "seeds diverged", "lower", False),
    Field("held_recovery_samples", "samples to held recovery", "lower", True),
    Field("held_recovery_fraction", "fraction of seeds with held recovery", "higher", False),
    Field("wall_time_s", "wall time (s)", "lower", True),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}
# What a sweep's cell table shows (and its heatmap colours by), in order.
CELL_COLUMNS = ("final_mean_abs_m", "test_mse", "weak_recovery_samples", "recovered", "diverged")

# Spec field paths and trace coordinates; a path not here reads as itself, humanized.
PATH_LABELS = {
    "samples": "fresh samples",
    "step": "gradient steps",
    "d": "dimension d",
    "target": "target",
    "seeds": "seeds",
    "model.width": "width N",
    "model.activation": "activation",
    "phase1.algorithm": "algorithm",
    "phase1.batch_size": "batch size B",
    "phase1.n": "training set size n",
    "phase1.passes": "passes per minibatch",
    "phase1.reuse_variant": "reuse variant",
    "phase2.samples": "Phase II samples",
}
_STAGE = re.compile(r"^phase1\.stages\.(\d+)\.(lr|inner_lr|samples|steps)$")
_STAGE_FIELDS = {
    "lr": "step size γ",
    "inner_lr": "inner step size η",
    "samples": "sample budget",
    "steps": "step budget",
}
_PHASES = {"phase1": "Phase I", "phase2": "Phase II"}


def label(name: str) -> str:
    """'phase1.stages.0.lr' -> 'Phase I step size γ'; a metric or result by its label."""
    if name in METRIC_BY_NAME:
        return METRIC_BY_NAME[name].label
    if name in FIELD_BY_NAME:
        return FIELD_BY_NAME[name].label
    if name in PATH_LABELS:
        return PATH_LABELS[name]
    stage = _STAGE.match(name)
    if stage:
        index, field = int(stage.group(1)), stage.group(2)
        return f"Phase I {_STAGE_FIELDS[field]}" + (f" (stage {index + 1})" if index else "")
    parts = name.split(".")
    head = _PHASES.get(parts[0])
    words = ([head] if head else [parts[0]]) + parts[1:]
    return " ".join(words).replace("_", " ")


def lower_is_better(name: str) -> bool:
    metric = METRIC_BY_NAME.get(name)
    known = metric or FIELD_BY_NAME.get(name)
    return known is not None and known.better == "lower"


def labels() -> dict[str, str]:
    """Every name the dashboard may show, with its label (stage paths for the first 4 stages)."""
    names = [*METRIC_BY_NAME, *FIELD_BY_NAME, *PATH_LABELS]
    names += [f"phase1.stages.{i}.{field}" for i in range(4) for field in _STAGE_FIELDS]
    return {name: label(name) for name in names}
