"""A sweep's figures: the heatmap of an aggregated result over two axes (the paper's Figure 1)
and the scaling plot of one group of the scaling fit. Rendering is api.plots'."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api import plots
from api.aggregate import get_path, is_missing
from api.labels import label, lower_is_better
from api.plot_query import HeatmapQuery, ScalingPlotQuery
from api.services import sweep_stats
from api.services.errors import Invalid, NotFound
from db.models import Sweep
from trainer.canonical import canonical_json
from trainer.spec import Unstated

# A colour scale goes logarithmic when the values span more than this factor (a decade).
LOG_SPAN = 10.0


def heatmap(sweep: Sweep, query: HeatmapQuery, *, session: Session, fmt: plots.Fmt) -> bytes:
    """Colour = `stat` over seeds of `value` per cell; Invalid when x or y is not an axis or when
    unpinned other axes put several cells on one spot."""
    x, y, value, stat = query.x, query.y, query.value, query.stat
    for name, path in (("x", x), ("y", y)):
        if path not in sweep.axes:
            raise Invalid.query(
                name, f"{path!r} is not an axis of this sweep ({sweep.axes})", Unstated.resource
            )
    fields = sweep_stats.seed_fields(value)
    cells = sweep_stats.cells(sweep, session=session, fields=fields, where=query.where)
    seen: set[tuple[str, str]] = set()
    for cell in cells:
        spot = (canonical_json(cell[x]), canonical_json(cell[y]))
        if spot in seen:
            raise Invalid.query(
                "where",
                f"several cells share {x}={cell[x]!r}, {y}={cell[y]!r}: pin "
                "the other axes with where=AXIS=VALUE",
                Unstated.resource,
            )
        seen.add(spot)
    key = f"{value}.{stat}"
    log_color = query.log_color
    if log_color is None:
        log_color = spans_decade([get_path(cell, key) for cell in cells])
    return plots.heatmap(
        cells,
        x,
        y,
        key,
        title=query.title or f"{_label(sweep)}: {label(value)} ({stat} over seeds)",
        x_label=label(x),
        y_label=label(y),
        colorbar_label=f"{label(value)} ({stat})" + (", log scale" if log_color else ""),
        annotate=query.annotate,
        log_color=log_color,
        # Smaller is better for some: the colour map runs the other way (bright = good).
        cmap="viridis_r" if lower_is_better(value) else "viridis",
        vmin=query.vmin,
        vmax=query.vmax,
        fmt=fmt,
    )


def scaling_plot(
    sweep: Sweep, query: ScalingPlotQuery, *, session: Session, fmt: plots.Fmt
) -> bytes:
    """The `group`-th of the scaling fit's groups that match `where`; NotFound past the last."""
    fits = sweep_stats.scaling(
        sweep, session=session, x=query.x, metric=query.metric, threshold=query.threshold
    )
    wanted = sweep_stats.pinned(sweep, query.where)
    groups = [g for g in fits if sweep_stats.matches(g["key"], wanted)]
    if query.group >= len(groups):
        raise NotFound(f"no scaling group {query.group} (there are {len(groups)})")
    chosen = groups[query.group]
    label = ", ".join(f"{k}={v}" for k, v in chosen["key"].items())
    return plots.scaling_plot(
        chosen["fit"],
        information_exponent=query.information_exponent,
        title=query.title or _label(sweep) + (f": {label}" if label else ""),
        fmt=fmt,
    )


def spans_decade(values: list[object]) -> bool:
    """True when every value is a positive number and the largest is > LOG_SPAN x the smallest."""
    numbers = [float(v) for v in values if not is_missing(v) and isinstance(v, int | float)]
    if len(numbers) < 2 or min(numbers) <= 0:
        return False
    return max(numbers) / min(numbers) > LOG_SPAN


def _label(sweep: Sweep) -> str:
    return sweep.name or f"sweep {sweep.id}"
