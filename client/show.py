"""How the CLI writes experiments and sweeps for people (the --json output is the API's JSON)."""

from __future__ import annotations

import math
from typing import Any

from client.stats import wilson
from client.status import Status


def number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    return str(value)


def queued_note(experiment: dict[str, Any]) -> str:
    """Why a queued experiment is not running yet. The dispatcher sends an experiment to the
    broker only when a worker slot is free, so an unsent one is waiting for a slot."""
    if experiment["status"] != Status.queued:
        return ""
    if experiment.get("dispatched_at"):
        return " (sent to the broker)"
    return " (waiting for a free worker slot; `silab position ID` tells its place)"


def line(experiment: dict[str, Any]) -> str:
    return f"experiment {experiment['id']}: {experiment['status']}{queued_note(experiment)}"


def diverged_seeds(experiment: dict[str, Any]) -> tuple[int, int]:
    """(diverged, total) seeds of a finished experiment's result."""
    seeds = (experiment.get("result") or {}).get("seeds") or []
    return sum(s.get("diverged_at_step") is not None for s in seeds), len(seeds)


def outcome(experiment: dict[str, Any]) -> str | None:
    """A sentence on how a finished experiment ended when its status alone does not say it."""
    if experiment.get("error"):
        return " ".join(str(experiment["error"]).split())
    if experiment["status"] == Status.diverged:
        bad, total = diverged_seeds(experiment)
        if total:
            return (
                f"{bad} of {total} seeds diverged (non-finite values); the other seeds' "
                "results are stored"
            )
        return "the run diverged (non-finite values)"
    return None


def recovered_text(fraction: float | None, n: int) -> str:
    """`k of n seeds (95% Wilson interval lo-hi)`: a fraction's interval stays in [0, 1]."""
    if fraction is None or n <= 0:
        return "-"
    k = round(fraction * n)
    low, high = wilson(k, n)
    return f"{k} of {n} seeds (95% {low:.2f}-{high:.2f})"


def hyperparameters(spec: dict[str, Any]) -> list[tuple[str, Any]]:
    """The spec's leaves that people tune, as (dotted path, value), in spec order."""
    out: list[tuple[str, Any]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for i, inner in enumerate(value):
                walk(inner, f"{path}.{i}")
        else:
            out.append((path, value))

    walk(spec, "")
    return out


def experiment_text(e: dict[str, Any]) -> list[str]:
    """`silab show ID`: what it is, how it ended, its results and its hyperparameters."""
    head = f"experiment {e['id']} {e['name']!r}: {e['status']}{queued_note(e)}"
    if e.get("attempt", 1) > 1 or e["status"] == Status.failed:
        head += f" (attempt {e.get('attempt')} of {e.get('max_attempts')})"
    lines = [head]
    note = outcome(e)
    if note:
        lines.append(f"  {note}")
    lines.append(
        f"  {e['target']}, {e['algorithm']}, d={e['d']}, N={e['width']}, {e['seeds']} seeds, "
        f"owner {e['owner']}" + (f", tags {', '.join(e['tags'])}" if e.get("tags") else "")
    )
    if e.get("samples_total"):
        lines.append(f"  samples {e['samples_done']:,} of {e['samples_total']:,}")
    seeds = (e.get("result") or {}).get("seeds") or []
    if e.get("final_median_abs_m") is not None or e.get("test_mse") is not None:
        recovered = [s.get("weak_recovery_samples") for s in seeds]
        missing = sum(r is None for r in recovered)
        lines.append(
            f"  median |m| {number(e.get('final_median_abs_m'))}, test MSE "
            f"{number(e.get('test_mse'))}, recovered "
            f"{recovered_text(e.get('weak_recovery_fraction'), len(seeds))}"
        )
        if seeds:
            lines.append(
                f"  samples to weak recovery (median over recovered seeds) "
                f"{number(e.get('weak_recovery_samples'))}; {missing} of {len(seeds)} seeds did "
                "not recover"
            )
    sections: dict[str, list[str]] = {}
    for path, value in hyperparameters(e.get("spec") or {}):
        if value is None:
            continue
        head, _, rest = path.partition(".")
        sections.setdefault(head if rest else "spec", []).append(f"{rest or head}={number(value)}")
    for head, items in sections.items():
        lines.append(f"  {head}: " + ", ".join(items))
    return lines
