"""Fair baselines: per (target, algorithm, d), the best cell of a sweep over a named axis by a
named statistic, and the scaling law fitted over the winners. No database access.

"Best" is the lowest Kaplan–Meier median of the chosen recovery time (a censored median loses to
every observed one; between two censored ones, the one with fewer censored seeds wins). Every
cell of a (target, algorithm, d) group is a candidate, so the cells of a group should differ
only in the `over` axis (and axes zipped with it); the winner's full cell key is reported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from api import survival
from db.models import FINISHED_WITH_RESULT, Experiment

# What a recovery time can be read from in a seed's result.
STATISTICS = ("held", "weak", "first:<threshold>")


def seed_time(seed: dict[str, Any], statistic: str) -> float | None:
    """One seed's recovery time under `statistic` (None: never, i.e. censored)."""
    if statistic == "held":
        return survival.finite(seed.get("held_recovery_samples"))
    if statistic == "weak":
        return survival.finite(seed.get("weak_recovery_samples"))
    key = repr(float(statistic.removeprefix("first:")))
    return survival.finite((seed.get("first_passage_samples") or {}).get(key))


def check_statistic(statistic: str) -> str | None:
    """An error message for an unknown statistic, else None."""
    if statistic in ("held", "weak"):
        return None
    if statistic.startswith("first:"):
        try:
            value = float(statistic.removeprefix("first:"))
        except ValueError:
            return "first:<threshold> needs a number, e.g. first:0.3"
        return None if 0 < value < 1 else "the threshold must lie in (0, 1)"
    return f"unknown statistic {statistic!r}; use one of {', '.join(STATISTICS)}"


def _cell_times(group: Sequence[Experiment], statistic: str) -> tuple[list, list]:
    times: list[float | None] = []
    budgets: list[float] = []
    for e in group:
        if e.status not in FINISHED_WITH_RESULT or not e.result:
            continue
        budget = float(e.result.get("samples") or 0)
        for seed in e.result.get("seeds") or []:
            times.append(seed_time(seed, statistic))
            budgets.append(budget)
    return times, budgets


def _rank(km: survival.KaplanMeier) -> tuple[float, int]:
    return (km.median if km.median is not None else math.inf, km.censored)


def best_cells(members: Sequence[Experiment], over: str, statistic: str) -> list[dict[str, Any]]:
    """Per (target, algorithm, d): every candidate's value of `over` and KM statistics, and the
    winner. Groups sorted by target, algorithm, d."""
    cells: dict[str, list[Experiment]] = {}
    for e in members:
        cells.setdefault(e.cell_key or "{}", []).append(e)
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for key, group in cells.items():
        times, budgets = _cell_times(group, statistic)
        if not times:
            continue
        first = group[0]
        candidate = {
            "value": json.loads(key).get(over),
            "cell_key": key,
            "budget": max(budgets),
            "km": survival.kaplan_meier(times, budgets).to_dict(),
            "_times": (times, budgets),
        }
        groups.setdefault((first.target, first.algorithm, first.d), []).append(candidate)
    out = []
    for (target, algorithm, d), candidates in sorted(groups.items()):
        winner = min(candidates, key=lambda c: _rank(survival.KaplanMeier(**c["km"])))
        out.append(
            {
                "target": target,
                "algorithm": algorithm,
                "d": d,
                "winner": {k: v for k, v in winner.items() if k != "_times"},
                "candidates": [{k: v for k, v in c.items() if k != "_times"} for c in candidates],
                "_times": winner["_times"],
            }
        )
    return out


def fair_scaling(
    members: Sequence[Experiment], over: str, statistic: str, resamples: int
) -> dict[str, Any]:
    """best_cells, then per (target, algorithm) the scaling fit over the winners' seeds (or the
    reason it is refused)."""
    groups = best_cells(members, over, statistic)
    fits = []
    by_line: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for g in groups:
        by_line.setdefault((g["target"], g["algorithm"]), []).append(g)
    for (target, algorithm), line in by_line.items():
        entry: dict[str, Any] = {"target": target, "algorithm": algorithm, "fit": None}
        entry["seeds"] = sum(g["winner"]["km"]["n"] for g in line)
        entry["censored"] = sum(g["winner"]["km"]["censored"] for g in line)
        try:
            fit = survival.scaling_fit(
                [(float(g["d"]), *g["_times"]) for g in line], resamples=resamples
            )
            entry["fit"] = fit.to_dict()
        except ValueError as error:  # CensoredMedian or too few d
            entry["refused"] = str(error)
        fits.append(entry)
    for g in groups:
        del g["_times"]
    return {"over": over, "statistic": statistic, "groups": groups, "fits": fits}
