"""Seed batching: 64 seeds in one trainer.train.run against the same seeds one run after another,
and against the numpy loop a research script would write (bench/numpy_baseline.py: per seed, per
sample, one neuron).

Workload: the reference-reuse preset (one neuron, B = 1, He_3 student, target h_3, ηd = 0.3,
γ = 0.05/(d ln d), float64) at d = 64 for a fixed budget of samples, evaluation reduced to its
two end points so that training is what is timed. All three do the same number of fresh samples
per seed, taking turns within each repeat. Reports wall seconds (median over repeats),
seed-samples/s and the ratios.
Goal: batched ≥ 20× the sequential trainer runs.

    python bench/seed_batching.py [--quick] [--device auto|cpu|cuda]
"""

from __future__ import annotations

from common import emit, environment, median, resolve_device, time_interleaved
from common import parser as common_parser

GOAL = 20.0


def main() -> None:
    parser = common_parser(__doc__, quick="fewer samples and repeats", device=True)
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument(
        "--samples-per-d",
        type=float,
        default=None,
        help="fresh samples per seed / d (default 8, quick 2)",
    )
    args = parser.parse_args()

    import math

    from numpy_baseline import run_seeds

    from trainer import presets, train
    from trainer import spec as spec_module

    device = resolve_device(args.device)
    S, d = args.seeds, args.d
    per_d = args.samples_per_d or (2 if args.quick else 8)
    samples = int(per_d * d)
    repeats = 1 if args.quick else 5

    def spec_for(seeds: int | list[int]) -> spec_module.ExperimentSpec:
        raw = presets.apply_overrides(
            presets.load("reference-reuse"),
            [
                f"d={d}",
                f"phase1.stages.0.samples={samples}",
                "eval.every=null",
                "eval.points=2",
                "eval.test_samples=16",
            ],
        )
        raw["seeds"] = seeds
        return spec_module.ExperimentSpec.model_validate(raw)

    batched_spec = spec_for(S)
    single_specs = [spec_for([seed]) for seed in range(S)]
    stage = batched_spec.resolved().stages[0]

    def batched() -> None:
        train.run(batched_spec, device=device)

    def sequential() -> None:
        for single in single_specs:
            train.run(single, device=device)

    def numpy_loop() -> None:
        run_seeds(d, samples, stage.inner_lr, stage.lr, list(range(S)))

    times = time_interleaved(
        {"batched": batched, "sequential": sequential, "numpy": numpy_loop}, repeats, device
    )
    batched_s, sequential_s, numpy_s = (
        median(times[k]) for k in ("batched", "sequential", "numpy")
    )
    rate = {
        name: S * samples / seconds
        for name, seconds in (
            ("batched", batched_s),
            ("sequential", sequential_s),
            ("numpy", numpy_s),
        )
    }
    ratio = sequential_s / batched_s
    emit(
        {
            "benchmark": "seed_batching",
            "workload": {
                "preset": "reference-reuse",
                "d": d,
                "seeds": S,
                "samples_per_seed": samples,
                "dtype": batched_spec.dtype,
                "inner_lr": stage.inner_lr,
                "lr": stage.lr,
            },
            "repeats": repeats,
            "batched_s": round(batched_s, 3),
            "sequential_s": round(sequential_s, 3),
            "numpy_loop_s": round(numpy_s, 3),
            "seed_samples_per_s": {k: round(v, 1) for k, v in rate.items()},
            "ratio_to_sequential": round(ratio, 2),
            "ratio_to_numpy_loop": round(numpy_s / batched_s, 2),
            "goal": GOAL,
            "meets_goal": ratio >= GOAL and math.isfinite(ratio),
            "environment": environment(device),
        }
    )


if __name__ == "__main__":
    main()
