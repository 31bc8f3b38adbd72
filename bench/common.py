"""Shared helpers of the bench/ scripts: timing with repeats, device choice, JSON output.

Every benchmark measures its baseline in the same process and run, reports medians over repeats
and the ratios between them, and prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Make `import trainer` work when a script is run as `python bench/<name>.py` from anywhere.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parser(
    doc: str | None, *, quick: str | None = None, device: bool = False
) -> argparse.ArgumentParser:
    """A benchmark's command line: the first line of its docstring as the description, --quick
    (`quick` says what it trims) and --device (for resolve_device) where it has them."""
    out = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    if quick is not None:
        out.add_argument("--quick", action="store_true", help=quick)
    if device:
        out.add_argument("--device", default="auto")
    return out


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def random_layer(S: int, N: int, d: int, *, gen: Any, device: str, dtype: Any) -> tuple[Any, ...]:
    """W (S, N, d) on the unit sphere, a = ±1e-3 (output ≈ 0, as in Phase I), b = 0, and a unit θ
    (d,), drawn from `gen`: the state the throughput benchmarks step from."""
    import torch

    W = torch.randn(S, N, d, generator=gen, device=device, dtype=dtype)
    W = W / torch.linalg.vector_norm(W, dim=-1, keepdim=True)
    a = (torch.randint(0, 2, (S, N), generator=gen, device=device) * 2 - 1).to(dtype) * 1e-3
    b = torch.zeros(S, N, device=device, dtype=dtype)
    theta = torch.randn(d, generator=gen, device=device, dtype=dtype)
    return W, a, b, theta / theta.norm()


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_repeats(
    function: Callable[[], Any], repeats: int, device: str = "cpu", warmup: int = 1
) -> list[float]:
    """Wall-clock seconds of `function()` over `repeats` runs after `warmup` untimed runs."""
    for _ in range(warmup):
        function()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def time_interleaved(
    functions: dict[str, Callable[[], Any]], repeats: int, device: str = "cpu", warmup: int = 1
) -> dict[str, list[float]]:
    """Wall-clock seconds of each function over `repeats` rounds, the functions taking turns
    within each round (on a shared CPU the load then falls on all of them alike)."""
    for _ in range(warmup):
        for function in functions.values():
            function()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def environment(device: str) -> dict[str, Any]:
    import os

    import torch

    load = os.getloadavg()
    info: dict[str, Any] = {
        "device": device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    else:
        info["cpu"] = platform.processor() or platform.machine()
        info["cpu_count"] = os.cpu_count()
    # other processes on the machine: above 1.5 on this 2-core CPU the timings are contended
    info["load_average_1_5_15_min"] = [round(v, 2) for v in load]
    info["cpu_shared"] = load[0] > 1.5
    if load[0] > 1.5 * (os.cpu_count() or 1):
        info["load_note"] = (
            f"distorted by load: 1-minute load {load[0]:.1f} on {os.cpu_count()} cores (other "
            "jobs); absolute rates are several-fold low, the ratios measured in the same run "
            "are the figures to read"
        )
    return info


def emit(document: dict[str, Any]) -> None:
    print(json.dumps(document, indent=1))
