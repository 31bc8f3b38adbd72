"""Phase I throughput at large batch: the updates' GFLOP/s against a plain matmul.

d = 512, N = 1024, B = 256, S = 4 seeds, float32, He_3 student, target h_3. A reuse update counts
as two forward/backward passes over the minibatch, 8·B·N·d flops per seed (online: 4·B·N·d),
whatever it really computes; the baseline is torch.bmm of the same shape class,
(S, N, d) × (S, d, B), measured in the same process, all taking turns within each repeat. Two
implementations: `fast` (algorithms.fast_chunk, which trainer.train.run uses for these updates:
reuse's inner point from the minibatch's Gram matrix, 2.75 matmul-equivalents) and `reference`
(algorithms.reference_update, the literal two passes, 4). Goal: the reuse update train.run runs
≥ 0.8 × the matmul's GFLOP/s. Also reports neuron-samples/s (S·N·fresh samples/s) of the updates
alone and of a whole trainer.train.run (sampling and evaluation included).

    python bench/trainer_large_batch.py [--quick] [--device auto|cpu|cuda]
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

GOAL = 0.8


def end_to_end(
    dtype: str,
    d: int,
    N: int,
    B: int,
    S: int,
    samples: int,
    device: str,
    repeats: int,
    update_rate: float,
) -> dict:
    """trainer.train.run on the same shape: sampling, evaluation and bookkeeping included."""
    from trainer import spec as spec_module
    from trainer import train

    spec = spec_module.ExperimentSpec.model_validate(
        {
            "d": d,
            "seeds": S,
            "dtype": dtype,
            "target": "h3",
            "model": {
                "width": N,
                "activation": {"hermite": {3: math.sqrt(6)}},
                "second_layer_scale": 1e-3,
            },
            "phase1": {
                "algorithm": "reuse",
                "batch_size": B,
                "stages": [{"samples": samples, "inner_lr": "0.3/d", "lr": "0.05/(d*log(d))"}],
            },
            "phase2": None,
            "eval": {"test_samples": 1024, "points": 2},
            "max_memory_gb": 64,
        }
    )
    walls = time_repeats(lambda: train.run(spec, device=device), repeats, device)
    rate = S * N * samples / median(walls)
    return {
        "samples_per_seed": samples,
        "wall_s": round(median(walls), 3),
        "neuron_samples_per_s": rate,
        "fraction_of_update_rate": round(rate / update_rate, 3),
    }


def main() -> None:
    parser = common_parser(__doc__, quick="fewer updates and repeats", device=True)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--N", type=int, default=1024)
    parser.add_argument("--B", type=int, default=256)
    parser.add_argument("--S", type=int, default=4)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()

    import torch

    from trainer import algorithms, model

    device = resolve_device(args.device)
    dtype = getattr(torch, args.dtype)
    d, N, B, S = args.d, args.N, args.B, args.S
    cuda = device.startswith("cuda")
    updates = (4 if args.quick else 12) * (20 if cuda else 1)
    repeats = 2 if args.quick else 3

    gen = torch.Generator(device=device).manual_seed(0)
    W, a, b, theta = random_layer(S, N, d, gen=gen, device=device, dtype=dtype)
    pool = 8  # distinct minibatches cycled through (the data are not what is measured)
    xs = torch.randn(pool, S, B, d, generator=gen, device=device, dtype=dtype)
    us = xs @ theta
    ys = (us**3 - 3 * us) / math.sqrt(6)
    act = model.Activation("hermite", coefficients={3: math.sqrt(6)})

    def phase1(algorithm: str, path: str):
        rule = algorithms.UpdateRule(
            algorithm=algorithm, second_layer_scale=1e-3, clip=1000.0
        )  # spec.phase1.clip default
        assert rule.fast(B)
        params = (W, a, b)
        inner = 0.3 / d if algorithm == "reuse" else 0.0
        lr = 0.05 / (d * math.log(d))

        def work() -> None:
            nonlocal params
            for i in range(updates):
                x, y = xs[i % pool], ys[i % pool]
                if path == "fast":
                    params, _ = algorithms.fast_chunk(
                        params, x, y, B, algorithms.Stage(act, rule, lr, inner)
                    )
                else:
                    params, _ = algorithms.reference_update(
                        params, x, y, algorithms.Stage(act, rule, lr, inner)
                    )

        return work

    x_t = xs[0].transpose(1, 2).contiguous()  # (S, d, B)

    def matmul() -> None:
        for _ in range(updates):
            torch.bmm(W, x_t)

    runs = {
        f"{algorithm}_{path}": phase1(algorithm, path)
        for path in ("fast", "reference")
        for algorithm in ("reuse", "online")
    }
    with torch.no_grad():  # all take turns within each repeat
        times = time_interleaved({"matmul": matmul, **runs}, repeats, device)
    matmul_s = median(times["matmul"]) / updates
    matmul_gflops = 2 * S * N * d * B / matmul_s / 1e9
    out: dict = {
        "benchmark": "trainer_large_batch",
        "shape": {"d": d, "N": N, "B": B, "S": S, "dtype": args.dtype},
        "updates_per_repeat": updates,
        "repeats": repeats,
        "matmul_gflops": round(matmul_gflops, 2),
    }
    for path in ("fast", "reference"):
        out[path] = {}
        for algorithm, flops_per_seed in (("reuse", 8 * B * N * d), ("online", 4 * B * N * d)):
            seconds = median(times[f"{algorithm}_{path}"]) / updates
            gflops = S * flops_per_seed / seconds / 1e9
            out[path][algorithm] = {
                "seconds_per_update": seconds,
                "gflops": round(gflops, 2),
                "ratio_to_matmul": round(gflops / matmul_gflops, 3),
                "neuron_samples_per_s": S * N * B / seconds,
            }
    ratio = out["fast"]["reuse"]["ratio_to_matmul"]
    out.update({"ratio_to_matmul": ratio, "goal": GOAL, "meets_goal": ratio >= GOAL})

    out["end_to_end"] = end_to_end(
        args.dtype,
        d,
        N,
        B,
        S,
        B * updates,
        device,
        max(1, repeats - 2),
        out["fast"]["reuse"]["neuron_samples_per_s"],
    )
    out["environment"] = environment(device)
    emit(out)


if __name__ == "__main__":
    main()
