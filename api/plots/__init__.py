"""Figures as PNG or SVG bytes: alignment curves, Figure-1 style heatmaps, scaling plots.

One module a figure; api.plots.render draws and caches them (matplotlib's object API, one render
at a time, an LRU of bytes).
"""

from api.plots.alignment import LOSS_METRICS, OVERLAP_METRICS, alignment_curves
from api.plots.curves import METRIC_LABELS
from api.plots.heatmap import heatmap
from api.plots.render import FORMATS, MEDIA_TYPES, Fmt, cache_clear
from api.plots.scaling import scaling_plot

__all__ = [
    "FORMATS",
    "LOSS_METRICS",
    "MEDIA_TYPES",
    "METRIC_LABELS",
    "OVERLAP_METRICS",
    "Fmt",
    "alignment_curves",
    "cache_clear",
    "heatmap",
    "scaling_plot",
]
