"""The memory estimate is measured, not guessed: specs across the space (Phase I heavy, large
batches, gd's fixed set, Phase II heavy, many float64 seeds) run in a fresh process each, and the
estimate must lie within 2× of the run's peak resident memory above the process's baseline
(Phase II was 53–57× underestimated before).

The peak is the process's own high-water mark (VmHWM), not ru_maxrss: Linux carries ru_maxrss
across fork and exec, so a child of a large pytest process reports the parent's size."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from trainer import spec as specs

pytestmark = pytest.mark.slow

PROBE = """
import json, sys
import torch
from trainer import spec, train
torch.set_num_threads(1)
experiment = spec.load(json.loads(sys.argv[1]))
class Quiet:
    def on_eval(self, point): pass
    def should_stop(self): return False
    def on_checkpoint(self, state): pass
def kib(field):
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'):
            return int(line.split()[1]) * 1024
base = kib('VmRSS')
train.run(experiment, device='cpu', callbacks=Quiet())
print(kib('VmHWM') - base)
"""


def _h3(**fields):
    return {"target": "h3", "eval": {"test_samples": 4096, "points": 4}, **fields}


SPECS = {
    "phase2 heavy": _h3(
        d=256,
        seeds=4,
        model={"width": 512},
        phase1={"algorithm": "online", "batch_size": 512, "stages": [{"steps": 20, "lr": 0.01}]},
        phase2={"samples": 50_000},
    ),
    "large batch": _h3(
        d=1024,
        seeds=2,
        model={"width": 256},
        phase1={
            "algorithm": "reuse",
            "batch_size": 2048,
            "stages": [{"steps": 10, "lr": 0.01, "inner_lr": 0.01}],
        },
        phase2=None,
    ),
    "gd": _h3(
        d=128,
        seeds=2,
        model={"width": 1024},
        phase1={"algorithm": "gd", "n": 20_000, "stages": [{"steps": 5, "lr": 0.01}]},
        phase2={"samples": 50_000},
    ),
    "float64 seeds": _h3(
        d=64,
        seeds=16,
        dtype="float64",
        model={"width": 128},
        phase1={
            "algorithm": "reuse",
            "batch_size": 1,
            "stages": [{"steps": 50, "lr": 0.01, "inner_lr": 0.01}],
        },
        phase2={"samples": 100_000},
    ),
}


@pytest.mark.parametrize("name", SPECS)
def test_the_estimate_is_within_2x_of_the_measured_peak(name):
    value = SPECS[name]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(value)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    peak = int(done.stdout.split()[-1])
    estimate = specs.memory_estimate_bytes(specs.load(value))
    print(f"{name}: estimate {estimate / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB")
    assert peak / 2 <= estimate <= 2 * peak, (estimate, peak)
