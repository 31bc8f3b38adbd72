"""Rendering a matplotlib Figure to PNG or SVG bytes, once per distinct input.

Rendering uses matplotlib's object API (`matplotlib.figure.Figure` + the Agg/SVG canvases), never
pyplot, so no global figure state is touched. Matplotlib still shares caches (fonts, text layout)
between threads and documents itself as not thread-safe, so renders are serialized by one lock;
a render takes 0.1–0.5 s. Routes call these off the event loop (`run_in_threadpool`).

Renders are cached in an LRU (cachetools) keyed by (kind, sha256 of the canonical JSON of all
the inputs, fmt) and bounded by its total bytes. The cache holds bytes, which are immutable, so a
hit is safe to share.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
from collections.abc import Callable
from typing import Any, Literal

import matplotlib
import numpy as np
from cachetools import LRUCache
from matplotlib.figure import Figure

from trainer.canonical import canonical_hash

Fmt = Literal["png", "svg"]
FORMATS = ("png", "svg")
MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
CACHE_BYTES = 64 * 2**20

_DPI = 110
_RENDER_LOCK = threading.Lock()
# cachetools' caches are not thread-safe: every read and write holds _CACHE_LOCK.
_CACHE: LRUCache[tuple[str, str, str], bytes] = LRUCache(maxsize=CACHE_BYTES, getsizeof=len)
_CACHE_LOCK = threading.Lock()


def cache_clear() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def data_hash(data: Any) -> str:
    """sha256 of the canonical JSON of `data` (NaN written as NaN, unknown types as str)."""
    return canonical_hash(data, default=_json_default)


def cached(kind: str, fmt: str, inputs: dict[str, Any], draw: Callable[[], Figure]) -> bytes:
    """The bytes of `draw()`'s figure in `fmt`, rendered only when (kind, inputs, fmt) is new."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    key = (kind, data_hash(inputs), fmt)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    with _RENDER_LOCK:
        data = _save(draw(), fmt)
    # ValueError: larger than the whole cache, so not kept
    with _CACHE_LOCK, contextlib.suppress(ValueError):
        _CACHE[key] = data
    return data


def _save(figure: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    # No dates or version strings in the file: the same input gives the same bytes.
    metadata: dict[str, Any] = (
        {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    )
    # SVG element ids are salted with a random uuid unless svg.hashsalt is set. rc_context changes
    # the global rcParams for the duration of the save; callers hold _RENDER_LOCK.
    with matplotlib.rc_context({"svg.hashsalt": "silab"}):
        figure.savefig(buffer, format=fmt, dpi=_DPI, metadata=metadata, bbox_inches="tight")
    return buffer.getvalue()


def new_figure(width: float, height: float) -> Figure:
    # A Figure made directly (not through pyplot) is not registered anywhere; savefig attaches
    # the canvas for the format it writes.
    return Figure(figsize=(width, height), layout="constrained")


def message(figure: Figure, text: str) -> None:
    """`text` in the middle of an empty figure (no data to draw)."""
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="0.3", wrap=True)


def _power_of_two(value: float) -> int | None:
    if value <= 0:
        return None
    exponent = math.log2(value)
    return round(exponent) if abs(exponent - round(exponent)) < 1e-9 else None


def tick_label(value: Any) -> str:
    """An axis label: 2^k for powers of two (other than 1), numbers as %g, the rest as text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        k = _power_of_two(float(value))
        if k is not None and abs(k) >= 1:
            return f"$2^{{{k}}}$"
        return f"{value:g}"
    return str(value)
