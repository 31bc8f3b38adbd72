"""Experiments per hour: a sweep fused into one program (trainer.fused.run_group) against one
experiment per fresh process (what silab did before warm fused workers: a new process, the
torch import and, on a GPU, a CUDA context per experiment).

The sweep: `--cells` small experiments of one shape (d = 64, N = 64, B = 1, reuse, He_3 student,
target h_3, 2 seeds), differing in step size (a grid over c/(d ln d)) and budget (two budgets),
so they form a few lockstep cohorts, as a real sweep does. The baseline runs the first
`--baseline-cells` of them, each in its own `python -c` process, and is scaled per experiment.
Goal on a GPU: ≥ 15× experiments per hour (HFTA's best, issue 9).

This is the GPU script of issue 9, prepared and run on CPU only in this session (no GPU was
lent); on a GPU machine:

    python bench/fused_throughput.py --device cuda --cells 200 --baseline-cells 20
"""

from __future__ import annotations

import math
import subprocess
import sys
import time

from common import emit, environment, resolve_device
from common import parser as common_parser

GOAL_GPU = 15.0


def sweep(cells: int, device: str) -> list[dict]:
    specs = []
    for i in range(cells):
        scale = 0.02 * 2 ** ((i % 10) / 3)  # a step-size grid, 10 values
        samples = "40*d" if (i // 10) % 2 == 0 else "80*d"  # two budgets: two cohorts
        specs.append(
            {
                "d": 64,
                "seeds": [2 * i, 2 * i + 1],
                "target": "h3",
                "model": {"width": 64, "activation": {"hermite": {3: 6**0.5}}},
                "phase1": {
                    "algorithm": "reuse",
                    "stages": [
                        {"samples": samples, "inner_lr": "0.3/d", "lr": f"{scale}/(d*log(d))"}
                    ],
                },
                "phase2": {"samples": 2000},
                "eval": {"test_samples": 512, "points": 16},
                "device": device,
            }
        )
    return specs


ONE = (
    "import json, sys; from trainer import spec, train; "
    "train.run(spec.load(json.loads(sys.argv[1])), device=sys.argv[2])"
)


def main() -> None:
    parser = common_parser(__doc__, device=True)
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--baseline-cells", type=int, default=10)
    args = parser.parse_args()
    import json

    import torch

    from trainer import fused, lanes, spec

    device = resolve_device(args.device)
    specs = [spec.load(s) for s in sweep(args.cells, device)]
    assert len({lanes.shape_key(s) for s in specs}) == 1
    tick = time.perf_counter()
    outcomes = fused.run_group([fused.Member(s) for s in specs], device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    fused_s = time.perf_counter() - tick
    assert all(not isinstance(o, BaseException) for o in outcomes), outcomes
    raw = sweep(args.cells, device)[: args.baseline_cells]
    tick = time.perf_counter()
    for s in raw:
        subprocess.run([sys.executable, "-c", ONE, json.dumps(s), device], check=True)
    baseline_s = time.perf_counter() - tick
    per_hour_fused = 3600 * args.cells / fused_s
    per_hour_alone = 3600 * args.baseline_cells / baseline_s
    ratio = per_hour_fused / per_hour_alone
    emit(
        {
            "benchmark": "fused_throughput",
            "workload": {"cells": args.cells, "baseline_cells": args.baseline_cells, "d": 64,
                         "N": 64, "B": 1, "seeds": 2, "budgets": ["40*d", "80*d"]},
            "fused_s": round(fused_s, 3),
            "baseline_s": round(baseline_s, 3),
            "experiments_per_hour": {
                "fused": round(per_hour_fused),
                "one_per_process": round(per_hour_alone),
            },
            "ratio": round(ratio, 2),
            "goal_gpu": GOAL_GPU,
            "meets_goal": device.startswith("cuda") and math.isfinite(ratio) and ratio >= GOAL_GPU,
            "note": "goal applies on a GPU; on CPU this is a trainer-level proxy",
            "environment": environment(device),
        }
    )  # fmt: skip


if __name__ == "__main__":
    main()
