"""Sweep throughput through the service: the same sweeps, submitted with `silab sweep submit`,
run fused (the defaults: no setting changed) against one experiment per process and against
unfused warm workers, in wall time, CPU-s and experiments/s, all in one run (issue 9).

Layout (tests/e2e's and docker-compose's, created and removed by this script, bench/
service_common.py): a fresh PostgreSQL database, a spare Redis database as the broker,
`python -m api`, a maintenance worker `celery -Q silab.maintain -c 1 -B`
and one run worker `celery -Q celery -c 1`, SILAB_WORKER_SLOTS=1, OMP_NUM_THREADS=1,
SILAB_DEVICE=cpu. A fresh stack per mode and workload; the modes take turns within each workload
(on a shared CPU the load then falls on all of them alike). The modes differ only in these settings:

- fused: none changed (SILAB_GROUP_MAX_EXPERIMENTS default 64, warm worker recycled after 100
  groups): compatible experiments run as one program on a warm worker.
- one_per_process: SILAB_GROUP_MAX_EXPERIMENTS=1 and SILAB_WORKER_RECYCLE_GROUPS=1, a fresh
  process (torch import) per experiment: what silab did before issue 9, the goal's baseline.
- unfused_warm: SILAB_GROUP_MAX_EXPERIMENTS=1 only: warm workers without fusion, which separates
  the two gains.

Workloads:
- fig1: sweeps/fig1a.yaml, fig1b.yaml and scaling.yaml (the Figure 1 CPU sweeps and the scaling
  sweep, 57 experiments), submitted back to back;
- small: 40 small experiments of one shape (d = 64, N = 64, B = 1, reuse, 2 seeds; 20 step sizes
  x 2 budgets, as bench/fused_throughput.py's sweep), where per-experiment overhead dominates.

Wall: from the first `silab sweep submit` to the last experiment finished (GET /sweeps/{id}
polled every 0.25 s). CPU-s: user + system time of the service's processes (API, workers and
their children; not PostgreSQL's or Redis's), from RUSAGE_CHILDREN around each stack, the CLI
calls' own time subtracted. Goal: fused >= 5x less wall time than one_per_process.

    python bench/sweep_throughput.py [--workload fig1 small] [--modes ...] [--redis-db N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from service_common import ROOT, emit, environment, stack, wait_until

GOAL_WALL_RATIO = 5.0
MODES: dict[str, dict[str, str]] = {
    "fused": {},
    "one_per_process": {"SILAB_GROUP_MAX_EXPERIMENTS": "1", "SILAB_WORKER_RECYCLE_GROUPS": "1"},
    "unfused_warm": {"SILAB_GROUP_MAX_EXPERIMENTS": "1"},
}
FIG1 = ["sweeps/fig1a.yaml", "sweeps/fig1b.yaml", "sweeps/scaling.yaml"]
TERMINAL = {"completed", "finished", "cancelled"}


def small_sweep() -> dict[str, Any]:
    """40 cells of one shape: 20 step sizes x 2 budgets (two lockstep cohorts when fused)."""
    return {
        "name": "bench: 40 small experiments of one shape",
        "tags": ["bench"],
        "base": {
            "d": 64,
            "target": "h3",
            "model": {"width": 64, "activation": {"hermite": {3: 6**0.5}}},
            "phase1": {
                "algorithm": "reuse",
                "stages": [{"samples": "40*d", "inner_lr": "0.3/d", "lr": "0.02/(d*log(d))"}],
            },
            "phase2": {"samples": 2000},
            "eval": {"test_samples": 512, "points": 16},
            "device": "cpu",
        },
        "seeds": 2,
        "axes": [
            {
                "path": "phase1.stages.0.lr",
                "values": [f"{0.02 * 2 ** (i / 6):.5f}/(d*log(d))" for i in range(20)],
            },
            {"path": "phase1.stages.0.samples", "values": ["40*d", "80*d"]},
        ],
    }


def sweep_label(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else "generated (small_sweep)"


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def submit(base: str, key: str, path: Path) -> tuple[dict[str, Any], float]:
    """`silab sweep submit FILE --json`; returns the sweep and the CLI's own CPU-s."""
    before = children_cpu_s()
    done = subprocess.run(
        [sys.executable, "-m", "client.cli", "--url", base, "sweep", "submit", str(path), "--json"],
        cwd=ROOT,
        env={**os.environ, "SILAB_API_KEY": key, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"silab sweep submit {path} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout), children_cpu_s() - before


def run_mode(
    mode: str, files: list[Path], redis_db: int | None, timeout_s: float
) -> dict[str, Any]:
    cpu_at_start = children_cpu_s()
    cli_cpu = 0.0
    with stack(redis_db, SILAB_WORKER_SLOTS="1", **MODES[mode]) as run:
        cpu_at_start = children_cpu_s()  # after the migration
        base = run.api()
        key = run.admin_key()
        run.worker("maintain", "silab.maintain", beat=True)
        worker = run.worker("run", "celery", beat=False)
        began = time.perf_counter()
        sweeps = []
        for path in files:
            sweep, cpu = submit(base, key, path)
            cli_cpu += cpu
            sweeps.append(sweep["id"])
        submitted_s = time.perf_counter() - began
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:

            def done() -> bool:
                if not worker.alive():
                    raise RuntimeError(f"the run worker exited:\n{worker.text()[-3000:]}")
                states = [client.get(f"/sweeps/{i}").json()["status"] for i in sweeps]
                return all(s in TERMINAL for s in states)

            wait_until(done, timeout_s, f"{mode}: the sweeps to finish", interval=0.25)
            wall_s = time.perf_counter() - began
        from sqlalchemy import create_engine, text

        engine = create_engine(run.database.url)
        with engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT count(*) AS n, count(DISTINCT coalesce(group_head, id)) AS groups, "
                    "sum(wall_time_s) AS trainer_s, "
                    "sum(samples_total * seeds) AS seed_samples FROM experiment"
                )
            ).one()
            by_status = text("SELECT status, count(*) FROM experiment GROUP BY status")
            statuses = {str(s): int(n) for s, n in connection.execute(by_status).all()}
        engine.dispose()
    cpu_s = children_cpu_s() - cpu_at_start - cli_cpu
    return {
        "settings": MODES[mode],
        "experiments": row.n,
        "groups_run": row.groups,
        "statuses": statuses,
        "wall_s": round(wall_s, 2),
        "submit_s": round(submitted_s, 2),
        "service_cpu_s": round(cpu_s, 1),
        # a fused member reports its group's wall time, so this sum counts a group once per member
        "member_wall_time_s_summed": round(row.trainer_s or 0.0, 2),
        "experiments_per_s": round(row.n / wall_s, 4),
        # samples_total is per seed: seed-samples = samples_total x seeds
        "seed_samples_per_s": round(int(row.seed_samples or 0) / wall_s),
        "seed_samples_summed": int(row.seed_samples or 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workload", nargs="+", choices=["fig1", "small"], default=["small", "fig1"]
    )
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--redis-db", type=int, default=None)
    parser.add_argument("--timeout-s", type=float, default=2400, help="per mode and workload")
    args = parser.parse_args()
    began = time.perf_counter()
    import tempfile

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="silab-sweep-bench-") as folder:
        small = Path(folder) / "small.json"
        small.write_text(json.dumps(small_sweep()))
        workloads = {"fig1": [ROOT / f for f in FIG1], "small": [small]}
        for name in args.workload:
            load_before = os.getloadavg()
            per: dict[str, Any] = {}
            for mode in args.modes:
                try:
                    per[mode] = run_mode(mode, workloads[name], args.redis_db, args.timeout_s)
                except TimeoutError as error:  # a lower bound on the wall time, not a crash
                    per[mode] = {
                        "settings": MODES[mode],
                        "timed_out": str(error),
                        "wall_s_at_least": args.timeout_s,
                    }
                # on stderr as it comes: a later failure must not lose the modes measured
                print(json.dumps({name: {mode: per[mode]}}), file=sys.stderr, flush=True)
            base = per.get("one_per_process")
            summary: dict[str, Any] = {}
            if base and "wall_s" in per.get("fused", {}):
                fused = per["fused"]
                base_wall = base.get("wall_s", base.get("wall_s_at_least"))
                summary["wall_ratio_one_per_process_over_fused"] = round(
                    base_wall / fused["wall_s"], 2
                )
                if "service_cpu_s" in base:
                    summary["cpu_ratio_one_per_process_over_fused"] = round(
                        base["service_cpu_s"] / fused["service_cpu_s"], 2
                    )
                else:
                    summary["note"] = "one_per_process timed out: the wall ratio is a lower bound"
                summary["meets_goal"] = summary["wall_ratio_one_per_process_over_fused"] >= (
                    GOAL_WALL_RATIO
                )
            if "wall_s" in per.get("unfused_warm", {}) and "wall_s" in per.get("fused", {}):
                summary["wall_ratio_unfused_warm_over_fused"] = round(
                    per["unfused_warm"]["wall_s"] / per["fused"]["wall_s"], 2
                )
            results[name] = {
                "sweeps": [sweep_label(p) for p in workloads[name]],
                "modes": per,
                "summary": summary,
                "load_average_1_5_15_min_before": [round(v, 2) for v in load_before],
                "load_average_1_5_15_min_after": [round(v, 2) for v in os.getloadavg()],
            }
    emit(
        {
            "benchmark": "sweep_throughput",
            "description": "sweeps through the service (silab sweep submit; PostgreSQL + Redis, "
            "1 run worker -c 1): fused with no setting changed vs one experiment per process "
            "(SILAB_GROUP_MAX_EXPERIMENTS=1, SILAB_WORKER_RECYCLE_GROUPS=1) vs unfused warm "
            "workers (SILAB_GROUP_MAX_EXPERIMENTS=1), modes taking turns in one run",
            "goal_wall_ratio": GOAL_WALL_RATIO,
            "workloads": results,
            "wall_s": round(time.perf_counter() - began, 1),
            "environment": environment(torch_threads_per_worker=1),
        }
    )


if __name__ == "__main__":
    sys.exit(main())
