"""Trainer-level pilots for issue 8's "one network for everything" (sweeps/science-onenet.yaml):
the per-neuron random-Hermite student at d = 64 against h3, h4 and (h3+h4)/sqrt2, searched for a
width and a step where batch reuse's held recovery (median |m| over neurons reaches 0.5 and
never falls below 0.3) comes back. Run at nice 19, one torch thread, directly with the trainer
(not through the service: these only choose the sweep's settings; its numbers are the service's):

    nice -n 19 .venv/bin/python docs/results/onenet_pilots.py '[{"d": 64, "N": 16, "seeds": 4,
        "target": "h3", "algo": "reuse", "lo": 1, "hi": 4, "eta_d": 0.3,
        "lr": "0.015/(d*log(d))", "budget": "400*d"}]' >> docs/results/onenet_pilots.jsonl

One JSON line per setting: held seeds, their held-recovery times / d, the median over seeds of
the final median and max |m|, and `neurons_05`, the fraction of all neurons (seeds × N) with
|m_j| ≥ 0.5 at the end (read by wrapping trainer.metrics.overlap_metrics, which sees the
(S, N) overlaps at every evaluation; pilots written before it was added have none).
"""

import json
import statistics
import sys
import time

import torch

from trainer import metrics, presets
from trainer.spec import ExperimentSpec
from trainer.train import run

torch.set_num_threads(1)
LAST: dict[str, torch.Tensor] = {}
_overlap_metrics = metrics.overlap_metrics


def _keep(m: torch.Tensor) -> dict[str, torch.Tensor]:
    LAST["m"] = m.detach().abs().clone()
    return _overlap_metrics(m)


metrics.overlap_metrics = _keep  # trainer.loop reads it through the module


def pilot(d, N, seeds, target, algo, lo, hi, eta_d, lr, budget, dtype="float64", clip=1000):
    raw = presets.load("reference-reuse")
    raw.update(d=d, seeds=seeds, dtype=dtype, target=target)
    raw["model"] = {
        "width": N,
        "activation": {"random_hermite": {"min_degree": lo, "max_degree": hi}},
        "second_layer_scale": 1e-6,
        "bias_init": "zero",
    }
    raw["phase1"].update(algorithm=algo, clip=clip)
    raw["phase1"]["stages"] = [{"samples": budget, "inner_lr": f"{eta_d}/d", "lr": lr}]
    raw["eval"] = {
        "test_samples": 256,
        "points": 32,
        "every": "d/2" if algo == "reuse" else "2*d",
        "thresholds": [0.3, 0.5],
        "held_threshold": 0.5,
        "held_floor": 0.3,
    }
    started = time.process_time()
    seeds_out = run(ExperimentSpec.model_validate(raw), device="cpu").to_dict()["seeds"]
    held = sorted(s["held_recovery_samples"] / d for s in seeds_out if s["held_recovery_samples"])
    return {
        "target": target,
        "algo": algo,
        "deg": [lo, hi],
        "eta_d": eta_d,
        "lr": lr,
        "N": N,
        "d": d,
        "budget": budget,
        "held": f"{len(held)}/{len(seeds_out)}",
        "held_per_d": [round(h, 1) for h in held],
        "med_final_median_m": round(
            statistics.median(s["final_median_abs_m"] or 0 for s in seeds_out), 3
        ),
        "med_final_max_m": round(
            statistics.median(s["final_max_abs_m"] or 0 for s in seeds_out), 3
        ),
        "neurons_05": round(float((LAST["m"] >= 0.5).double().mean()), 3),
        "cpu": round(time.process_time() - started, 1),
    }


if __name__ == "__main__":
    for setting in json.loads(sys.argv[1]):
        print(json.dumps(pilot(**setting)), flush=True)
