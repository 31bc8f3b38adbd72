"""The tables, plot and data of one science sweep, from the API's /fair view (used by
scripts/science_sweeps.py). Formatting only: every number comes from GET /sweeps/{id}/fair."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from client.python import SilabClient

OVER = "phase1.stages.0.lr"
STATISTICS = {"held": "held recovery (0.5, floor 0.3)", "first:0.3": "first passage to 0.3"}


def _fmt(value: float | None, d: int) -> str:
    return "censored" if value is None else f"{value / d:.3g}"


def ci_text(fit: dict[str, Any]) -> str:
    """A fit's 95% bootstrap interval as the report tables print it ("–" when refused)."""
    ci = fit.get("ci95")
    return "–" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def fit_table(body: dict[str, Any]) -> list[str]:
    lines = [
        "| target | algorithm | exponent b | 95% CI (bootstrap) | d in fit | seeds | censored |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in body["fits"]:
        fit = f["fit"]
        if fit is None:
            row = f"refused: {f.get('refused')} | – | – "
            lines.append(
                f"| {f['target']} | {f['algorithm']} | {row}| {f['seeds']} | {f['censored']} |"
            )
            continue
        ds = ", ".join(f"{d:g}" for d in fit["d"])
        lines.append(
            f"| {f['target']} | {f['algorithm']} | {fit['b']:.2f} | {ci_text(fit)} | {ds} "
            f"| {f['seeds']} | {f['censored']} |"
        )
    return lines


def winner_table(body: dict[str, Any]) -> list[str]:
    lines = [
        (
            "| target | algorithm | d | best step (of candidates done) | KM median / d "
            "[q25, q75] | censored / seeds | budget / d | every candidate: step → median / d "
            "(censored) |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for g in body["groups"]:
        d, w = g["d"], g["winner"]
        km = w["km"]
        cands = "; ".join(
            f"{c['value']} → {_fmt(c['km']['median'], d)} ({c['km']['censored']})"
            for c in g["candidates"]
        )
        lines.append(
            f"| {g['target']} | {g['algorithm']} | {d} | {w['value']} ({len(g['candidates'])}) "
            f"| {_fmt(km['median'], d)} [{_fmt(km['q25'], d)}, {_fmt(km['q75'], d)}] "
            f"| {km['censored']} / {km['n']} | {w['budget'] / d:.0f} | {cands} |"
        )
    return lines


def plot(bodies: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(bodies), figsize=(5.5 * len(bodies), 4), squeeze=False)
    for ax, (statistic, body) in zip(axes[0], bodies.items(), strict=True):
        lines: dict[tuple[str, str], list[tuple[int, float]]] = {}
        for g in body["groups"]:
            median = g["winner"]["km"]["median"]
            if median is not None:
                lines.setdefault((g["target"], g["algorithm"]), []).append((g["d"], median))
        for (target, algorithm), points in lines.items():
            ds, ms = zip(*sorted(points), strict=True)
            ax.loglog(ds, ms, "o-", base=2, label=f"{target} {algorithm}")
        ax.set_xlabel("d")
        ax.set_ylabel("KM median samples (best step per d)")
        ax.set_title(STATISTICS.get(statistic, statistic))
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fetch_fair(
    silab: SilabClient,
    sweep_id: int,
    out: Path,
    statistics: Sequence[str],
    also: Sequence[int] = (),
    over: str = OVER,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """GET /sweeps/{id}/fair for each statistic (pooled with `also`), saved verbatim to
    out/fair.json, and the sweep itself."""
    out.mkdir(parents=True, exist_ok=True)
    pool = {"with": list(also)} if also else {}
    bodies = {s: silab.sweep_fair(sweep_id, over=over, statistic=s, **pool) for s in statistics}
    (out / "fair.json").write_text(json.dumps(bodies, indent=1) + "\n")
    return bodies, silab.get_sweep(sweep_id)


def pooled_text(silab: SilabClient, also: Sequence[int]) -> str:
    parts = [f"sweep {i} ({silab.get_sweep(i)['progress']})" for i in also]
    return f" pooled with {', '.join(parts)}" if parts else ""


OVERLAPS = ("final_median_abs_m", "final_max_abs_m")


def overlap_table(silab: SilabClient, sweep_ids: Sequence[int]) -> list[str]:
    """Per cell the median and the max over neurons of |m| at the end of the budget, each a mean
    over seeds (GET /sweeps/{id}/aggregate): whether the neurons that are not the median aligned
    too (held recovery reads the median only)."""
    lines = [
        "| target | algorithm | d | step | seeds | final median_j \\|m_j\\| | final max_j "
        "\\|m_j\\| |",
        "|---|---|---|---|---|---|---|",
    ]
    for sweep_id in sweep_ids:
        for c in silab.sweep_aggregate(sweep_id, fields=",".join(OVERLAPS))["cells"]:
            median, top = (c[f] for f in OVERLAPS)
            if median["mean"] is None:
                continue
            lines.append(
                f"| {c.get('target', '')} | {c.get('phase1.algorithm', '')} | {c['d']} "
                f"| {c.get(OVER, '')} | {median['n']} | {median['mean']:.2f} "
                f"| {top['mean']:.2f} |"
            )
    return lines


def write(
    silab: SilabClient, sweep_id: int, name: str, out: Path, also: Sequence[int] = ()
) -> None:
    """`also`: more sweeps of the same grid (e.g. a larger d) pooled into this one's fit."""
    bodies, sweep = fetch_fair(silab, sweep_id, out, STATISTICS, also)
    text = [
        f"# {sweep['name']}: generated tables",
        "",
        f"Sweep {sweep_id}{pooled_text(silab, also)} through silab, progress "
        f"{sweep['progress']}. Generated by "
        "scripts/science_sweeps.py from GET /sweeps/{id}/fair?over=" + OVER + ": per (target, "
        "algorithm, d) the step with the lowest Kaplan–Meier median (seeds that never reached the "
        "criterion are censored at their budget, never dropped), and samples ∝ d^b fitted over "
        "the winners' KM medians with a 95% bootstrap interval over seeds. Times in samples / d.",
        "",
    ]
    for statistic, body in bodies.items():
        text += [f"## {STATISTICS[statistic]}", "", *fit_table(body), "", *winner_table(body), ""]
    text += [
        "## Overlap at the end of the budget (mean over seeds)",
        "",
        *overlap_table(silab, [sweep_id, *also]),
        "",
    ]
    (out / "tables.md").write_text("\n".join(text))
    plot(bodies, out / "scaling.png")
    print("wrote", out)
