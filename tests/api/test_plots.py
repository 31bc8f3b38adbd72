"""api.plots: valid PNG/SVG bytes, NaN cells, the render cache, rendering from two threads."""

import math
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from api import plots
from api.aggregate import summarize
from api.plots.render import tick_label
from api.scaling_fit import scaling_fit

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _empty_cache():
    plots.cache_clear()
    yield
    plots.cache_clear()


def _trace(seeds=3, with_loss=True, phase2=True):
    points = []
    for seed in range(seeds):
        for step in (0, 1, 2, 4, 8, 16, 32, 64):
            m = min(1.0, 0.05 + 0.015 * step + 0.01 * seed)
            points.append(
                {
                    "experiment_id": 1,
                    "seed": seed,
                    "phase": "phase1",
                    "step": step,
                    "samples": 8 * step,
                    "median_abs_m": m,
                    "mean_abs_m": 0.9 * m,
                    "train_loss": 1.0 - 0.5 * m if with_loss else None,
                    "test_mse": None,
                }
            )
        if phase2:
            points.append(
                {
                    "experiment_id": 1,
                    "seed": seed,
                    "phase": "phase2",
                    "step": 64,
                    "samples": 512,
                    "median_abs_m": m,
                    "mean_abs_m": 0.9 * m,
                    "train_loss": None,
                    "test_mse": 0.3 + 0.01 * seed,
                }
            )
    return points


def _cells():
    cells = [
        {
            "d": d,
            "n": n,
            "test_mse": summarize(1.0 / (1 + n / (8 * d)) + 0.01 * s for s in range(3)),
        }
        for d in (16, 32, 64)
        for n in (64, 128, 256, 512)
    ]
    cells.append({"d": 128, "n": 64, "test_mse": {"mean": None}})  # a cell with no value
    cells.append({"d": 128, "n": 128, "test_mse": {"mean": float("nan")}})
    return cells


def _fit():
    ds, samples = [], []
    for d in (32, 64, 128, 256):
        for seed in range(4):
            ds.append(d)
            samples.append(None if seed == 3 and d == 256 else 5.0 * d * (1 + 0.1 * seed))
    return scaling_fit(ds, samples)


def _parse_svg(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag.endswith("svg")
    return root


# ---------------------------------------------------------------------------------- formats
@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_alignment_curves_render(fmt):
    data = plots.alignment_curves(_trace(), metrics=("median_abs_m", "mean_abs_m"), fmt=fmt)
    if fmt == "png":
        assert data.startswith(PNG_MAGIC)
    else:
        _parse_svg(data)


def test_alignment_curves_edge_cases():
    assert plots.alignment_curves([]).startswith(PNG_MAGIC)  # "no evaluation points yet"
    no_loss = plots.alignment_curves(_trace(with_loss=False, phase2=False))
    assert no_loss.startswith(PNG_MAGIC)
    # GD on a fixed set: samples never grow, so the x axis falls back to steps.
    gd = [dict(p, samples=256) for p in _trace(phase2=False)]
    assert plots.alignment_curves(gd, x="auto").startswith(PNG_MAGIC)
    with pytest.raises(ValueError):
        plots.alignment_curves(_trace(), metrics=("no_such_metric",))
    with pytest.raises(ValueError):
        plots.alignment_curves(_trace(), fmt="jpeg")


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_heatmap_with_missing_cells(fmt):
    data = plots.heatmap(
        _cells(),
        "d",
        "n",
        "test_mse.mean",
        annotate=True,
        fmt=fmt,
        x_label="input dimension d",
        y_label="samples n",
    )
    if fmt == "png":
        assert data.startswith(PNG_MAGIC)
    else:
        _parse_svg(data)


def test_heatmap_all_missing_log_colour_and_empty():
    cells = [{"d": 16, "n": 32, "v": None}, {"d": 32, "n": 32, "v": math.nan}]
    assert plots.heatmap(cells, "d", "n", "v").startswith(PNG_MAGIC)
    cells = [{"d": 16, "n": 32, "v": 0.01}, {"d": 32, "n": 32, "v": 1.0}]
    assert plots.heatmap(cells, "d", "n", "v", log_color=True).startswith(PNG_MAGIC)
    assert plots.heatmap([], "d", "n", "v").startswith(PNG_MAGIC)


def test_heatmap_refuses_duplicate_cells():
    cells = [{"d": 16, "n": 32, "v": 1.0}, {"d": 16, "n": 32, "v": 2.0}]
    with pytest.raises(ValueError, match="aggregate"):
        plots.heatmap(cells, "d", "n", "v")


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_scaling_plot(fmt):
    data = plots.scaling_plot(_fit(), information_exponent=3, fmt=fmt)
    if fmt == "png":
        assert data.startswith(PNG_MAGIC)
    else:
        _parse_svg(data)


def test_scaling_plot_without_recoveries():
    fit = scaling_fit([64, 128], [None, None])
    assert plots.scaling_plot(fit).startswith(PNG_MAGIC)


def test_tick_labels_are_powers_of_two():
    assert tick_label(64) == "$2^{6}$"
    assert tick_label(48) == "48"
    assert tick_label(0.5) == "$2^{-1}$"
    assert tick_label("reuse") == "reuse"


# ------------------------------------------------------------------------------------ caching
def test_a_repeated_request_is_a_cache_hit_with_identical_bytes():
    first = plots.heatmap(_cells(), "d", "n", "test_mse.mean")
    assert plots.heatmap(_cells(), "d", "n", "test_mse.mean") is first  # not rendered again
    # Another format, another option or other data is another entry, and leaves the first.
    changed = _cells()
    changed[0]["test_mse"]["mean"] = 0.123
    others = [
        plots.heatmap(_cells(), "d", "n", "test_mse.mean", fmt="svg"),
        plots.heatmap(_cells(), "d", "n", "test_mse.mean", annotate=True),
        plots.heatmap(changed, "d", "n", "test_mse.mean"),
    ]
    assert all(other != first for other in others)
    assert plots.heatmap(_cells(), "d", "n", "test_mse.mean") is first


def test_the_same_input_renders_the_same_bytes_without_the_cache():
    first = plots.scaling_plot(_fit(), fmt="svg")
    plots.cache_clear()
    assert plots.scaling_plot(_fit(), fmt="svg") == first


# ------------------------------------------------------------------------------------ threads
def test_rendering_from_two_threads_at_once():
    barrier = threading.Barrier(2)

    def curves():
        barrier.wait()
        return plots.alignment_curves(_trace())

    def heat():
        barrier.wait()
        return plots.heatmap(_cells(), "d", "n", "test_mse.mean", annotate=True, fmt="svg")

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(curves), pool.submit(heat)]
        png, svg = (future.result(timeout=60) for future in futures)  # re-raises a failure
    assert png.startswith(PNG_MAGIC)
    _parse_svg(svg)
    # The same bytes as a render on its own.
    plots.cache_clear()
    assert plots.alignment_curves(_trace()) == png


def test_plots_do_not_use_pyplot():
    # pyplot keeps global figure state (and may pick an interactive backend): a render must not
    # import it. Checked in a fresh interpreter, since other tests may import pyplot.
    code = (
        "import sys; from api import plots; "
        "plots.heatmap([{'d': 16, 'n': 32, 'v': 1.0}], 'd', 'n', 'v'); "
        "plots.alignment_curves([]); "
        "print('matplotlib.pyplot' in sys.modules, 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]
