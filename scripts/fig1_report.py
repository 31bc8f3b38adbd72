"""Figure 1's panels with their boundary slopes (sweeps/science-fig1a.yaml, science-fig1b.yaml),
from the API (used by scripts/science_sweeps.py). Formatting only: the heatmap is GET
/sweeps/{id}/heatmap.png, the per-cell means and intervals GET /sweeps/{id}/aggregate, the
per-cell medians, boundaries and slopes GET /sweeps/{id}/boundary?x=samples.

Panel (a) reads the overlap (mean over neurons of |m_j|) against Phase I's fresh samples n;
panel (b) the test error after Phase II against GD's fixed set of n samples (Phase II refits
those n, so n counts every sample). The boundary is where the median over seeds first reaches
the level; n* ∝ d^b is fitted over d with a 95% bootstrap interval over seeds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from client.python import SilabClient


class Panel(NamedTuple):
    field: str  # a per-seed result the boundary and the heatmap read
    y: str  # the sweep's n axis
    levels: tuple[float, ...]  # fixed before the sweep ran
    label: str


PANELS = {
    "fig1a": Panel("final_mean_abs_m", "phase1.stages.0.samples", (0.5,), "overlap"),
    "fig1b": Panel("test_mse", "phase1.n", (0.5, 0.3), "test MSE / E[y²]"),
}
X = "samples"  # Phase I's samples: online's fresh ones, gd's fixed set


def panel_of(name: str) -> Panel:
    return PANELS["fig1a" if name.startswith("fig1a") else "fig1b"]


def _ci(fit: dict[str, Any]) -> str:
    ci = fit.get("ci95")
    return "–" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def fit_table(bodies: dict[float, dict[str, Any]]) -> list[str]:
    lines = [
        "| level | n*/d at each d | exponent b of n* ∝ d^b | 95% CI (bootstrap) | resamples "
        "without a boundary |",
        "|---|---|---|---|---|",
    ]
    for level, body in bodies.items():
        per_d = ", ".join(
            f"{g['d']}: {g['boundary'] / g['d']:.3g}"
            if g["boundary"] is not None
            else f"{g['d']}: none ({g['no_boundary']})"
            for g in body["groups"]
        )
        for f in body["fits"]:
            fit = f["fit"]
            if fit is None:
                lines.append(f"| {level} | {per_d} | refused: {f['refused']} | – | – |")
            else:
                lines.append(
                    f"| {level} | {per_d} | **{fit['b']:.2f}** | {_ci(fit)} | "
                    f"{fit['resamples_censored']} of {fit['resamples']} |"
                )
    return lines


def cell_table(body: dict[str, Any], means: dict[tuple[int, float], str]) -> list[str]:
    """Rows n, columns d: the median over seeds (the boundary's statistic), then the mean ± the
    95% half-interval of the aggregate, and the seeds behind each."""
    ds = [g["d"] for g in body["groups"]]
    ns = sorted({c["x"] for g in body["groups"] for c in g["cells"]})
    lines = [
        "| n | " + " | ".join(f"d = {d}" for d in ds) + " |",
        "|---|" + "---|" * len(ds),
    ]
    for n in ns:
        row = []
        for g in body["groups"]:
            cell = next((c for c in g["cells"] if c["x"] == n), None)
            row.append(
                ""
                if cell is None
                else f"{cell['median']:.3g} ({means.get((g['d'], n), '–')}; {cell['seeds']})"
            )
        lines.append(f"| {n:g} | " + " | ".join(row) + " |")
    return lines


def aggregate_means(
    silab: SilabClient, sweep_id: int, panel: Panel
) -> dict[tuple[int, float], str]:
    cells = silab.sweep_aggregate(sweep_id, fields=panel.field)["cells"]
    out = {}
    for c in cells:
        stat = c[panel.field]
        if stat["mean"] is None:
            continue
        text = f"{stat['mean']:.3g}"
        if stat["ci95_high"] is not None:
            text += f" ± {(stat['ci95_high'] - stat['ci95_low']) / 2:.2g}"
        if stat.get("n_missing"):
            text += f", {stat['n_missing']} missing"
        out[(c["d"], float(c[panel.y]))] = text
    return out


def write(
    silab: SilabClient, sweep_id: int, name: str, out: Path, also: Sequence[int] = ()
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    panel = panel_of(name)
    pool = {"with": list(also)} if also else {}
    bodies = {
        level: silab.sweep_boundary(sweep_id, level=level, field=panel.field, x=X, **pool)
        for level in panel.levels
    }
    sweep = silab.get_sweep(sweep_id)
    (out / "boundary.json").write_text(json.dumps(bodies, indent=1) + "\n")
    (out / "aggregate.csv").write_text(silab.sweep_aggregate(sweep_id, format="csv"))
    (out / "heatmap.png").write_bytes(
        silab.get_bytes(
            f"/sweeps/{sweep_id}/heatmap.png",
            x="d",
            y=panel.y,
            value=panel.field,
            vmin=0,
            vmax=1,
            title=f"{sweep['name']}: {panel.label} (mean over seeds)",
        )
    )
    first = bodies[panel.levels[0]]
    text = [
        f"# {sweep['name']}: generated tables",
        "",
        f"Sweep {sweep_id} through silab, progress {sweep['progress']}. Generated by "
        "scripts/science_sweeps.py (scripts/fig1_report.py) from GET /sweeps/{id}/boundary"
        f"?field={panel.field}&x={X}: per d the n* at which the median over seeds of "
        f"{panel.field} first reaches the level (interpolated on log axes between the two cells "
        "around it), and n* ∝ d^b fitted over d with a 95% bootstrap interval over seeds "
        "(1000 resamples).",
        "",
        "## Boundary and its slope",
        "",
        *fit_table(bodies),
        "",
        f"## {panel.label} per cell: median over seeds (mean ± 95% half-interval; seeds)",
        "",
        *cell_table(first, aggregate_means(silab, sweep_id, panel)),
        "",
    ]
    (out / "tables.md").write_text("\n".join(text))
    print("wrote", out)
