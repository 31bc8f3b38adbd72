"""Phase I throughput at batch size 1: the fast chunked path against the reference path.

B = 1, d = 256, S = 32 seeds, N = 64 neurons, float32, He_3 student, target h_3, reuse (ηd = 0.3).
`trainer.algorithms.fast_chunk` does K consecutive updates from one (S, N, d)·(S, d, K) matmul and
the chunk's K×K Gram matrix; `trainer.algorithms.reference_update` does one update per call with
two passes over the weights. Both run in this process on the same data. Reports neuron-samples/s
(S·N·fresh samples/s), the speed-up, the largest deviation between the two paths' weights, and
the rate of a whole trainer.train.run on the same shape. Goal: fast path ≥ 1e7 neuron-samples/s.
The two paths take turns within each repeat (a shared CPU's load falls on both alike).

    python bench/trainer_small_batch.py [--quick] [--device auto|cpu|cuda] [--chunk K]
"""

from __future__ import annotations

import math

from common import (
    emit,
    environment,
    median,
    random_layer,
    resolve_device,
    time_interleaved,
    time_repeats,
)
from common import (
    parser as common_parser,
)

GOAL = 1e7


def main() -> None:
    parser = common_parser(__doc__, quick="fewer samples and repeats", device=True)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--S", type=int, default=32)
    parser.add_argument("--N", type=int, default=64)
    parser.add_argument(
        "--chunk",
        type=int,
        default=64,
        help="K, samples per fast_chunk call (trainer.train uses 64)",
    )
    parser.add_argument("--algorithm", default="reuse", choices=["reuse", "online"])
    args = parser.parse_args()

    import torch

    from trainer import algorithms, model

    device = resolve_device(args.device)
    dtype = torch.float32
    d, S, N, K, B = args.d, args.S, args.N, args.chunk, 1
    repeats = 3 if args.quick else 5
    fast_samples = K * (4 if args.quick else 16)
    reference_samples = 64 if args.quick else 256

    gen = torch.Generator(device=device).manual_seed(0)
    W, a, b, theta = random_layer(S, N, d, gen=gen, device=device, dtype=dtype)
    x = torch.randn(S, fast_samples, d, generator=gen, device=device, dtype=dtype)
    u = x @ theta
    y = (u**3 - 3 * u) / math.sqrt(6)
    act = model.Activation("hermite", coefficients={3: math.sqrt(6)})
    rule = algorithms.UpdateRule(
        algorithm=args.algorithm, second_layer_scale=1e-3, clip=1000.0
    )  # spec.phase1.clip default
    inner = 0.3 / d if args.algorithm == "reuse" else 0.0
    lr = 0.05 / (d * math.log(d))
    assert rule.fast(B)

    def fast(samples: int) -> tuple:
        params = (W, a, b)
        for i in range(0, samples, K):
            j = min(i + K, samples)
            params, _ = algorithms.fast_chunk(
                params, x[:, i:j], y[:, i:j], B, algorithms.Stage(act, rule, lr, inner)
            )
        return params

    def reference(samples: int) -> tuple:
        params = (W, a, b)
        for i in range(samples):
            params, _ = algorithms.reference_update(
                params, x[:, i : i + 1], y[:, i : i + 1], algorithms.Stage(act, rule, lr, inner)
            )
        return params

    with torch.no_grad():
        times = time_interleaved(
            {"fast": lambda: fast(fast_samples), "reference": lambda: reference(reference_samples)},
            repeats,
            device,
        )
        fast_s, reference_s = median(times["fast"]), median(times["reference"])
        deviation = (fast(reference_samples)[0] - reference(reference_samples)[0]).abs().max()
    fast_rate = S * N * fast_samples / fast_s
    reference_rate = S * N * reference_samples / reference_s
    out = {
        "benchmark": "trainer_small_batch",
        "shape": {
            "d": d,
            "N": N,
            "B": B,
            "S": S,
            "dtype": "float32",
            "chunk": K,
            "algorithm": args.algorithm,
        },
        "repeats": repeats,
        "fast": {"samples": fast_samples, "seconds": fast_s, "neuron_samples_per_s": fast_rate},
        "reference": {
            "samples": reference_samples,
            "seconds": reference_s,
            "neuron_samples_per_s": reference_rate,
        },
        "speedup": round(fast_rate / reference_rate, 2),
        "max_abs_weight_difference": float(deviation),
        "neuron_samples_per_s": fast_rate,
        "goal": GOAL,
        "meets_goal": fast_rate >= GOAL,
    }
    out["end_to_end"] = end_to_end(
        d, N, S, fast_samples, args.algorithm, device, max(1, repeats - 2), fast_rate
    )
    out["environment"] = environment(device)
    emit(out)


def end_to_end(
    d: int,
    N: int,
    S: int,
    samples: int,
    algorithm: str,
    device: str,
    repeats: int,
    fast_rate: float,
) -> dict:
    """trainer.train.run on the same shape: sampling, evaluation and bookkeeping included."""
    from trainer import spec as spec_module
    from trainer import train

    stage = {"samples": samples, "lr": "0.05/(d*log(d))"}
    if algorithm == "reuse":
        stage["inner_lr"] = "0.3/d"
    spec = spec_module.ExperimentSpec.model_validate(
        {
            "d": d,
            "seeds": S,
            "dtype": "float32",
            "target": "h3",
            "model": {
                "width": N,
                "activation": {"hermite": {3: math.sqrt(6)}},
                "second_layer_scale": 1e-3,
            },
            "phase1": {"algorithm": algorithm, "batch_size": 1, "stages": [stage]},
            "phase2": None,
            "eval": {"test_samples": 256, "points": 2},
        }
    )
    walls = time_repeats(lambda: train.run(spec, device=device), repeats, device)
    rate = S * N * samples / median(walls)
    return {
        "samples_per_seed": samples,
        "wall_s": round(median(walls), 3),
        "neuron_samples_per_s": rate,
        "fraction_of_fast_path": round(rate / fast_rate, 3),
    }


if __name__ == "__main__":
    main()
