"""Trace fetch: GET /experiments/{id}/trace for an experiment with 10^4 trace points, raw (every
point) against downsampled to 500, as JSON and as CSV, with GET /health as the floor.

Set-up (created and removed by this script): a fresh PostgreSQL database (alembic upgrade head),
one completed experiment with 4 seeds x (2000 phase-1 + 500 phase-2 evaluations) = 10^4 trace
points inserted directly (SQLAlchemy core), and `uvicorn api.main:app` (1 process). One client,
one request at a time (keep-alive); the five requests take turns within each repeat. Reported:
latency median / p99 (ms), bytes returned, points returned, ratios to /health and raw/downsampled.
An in-process breakdown of the same work (the query, the downsampling) says where the time goes.

    python bench/trace_fetch.py [--quick] [--points N] [--repeats N]
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from typing import Any

import httpx
from api_load import SPEC
from service_common import emit, environment, stack, summary_ms

SEEDS = 4


def insert_experiment(url: str, points: int) -> int:
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from db.config import DbSettings
    from db.models import Experiment, TracePoint
    from db.session import make_engine
    from trainer.spec import ExperimentSpec

    spec = ExperimentSpec.model_validate({**SPEC, "seeds": SEEDS})
    now = datetime.now(UTC)
    per_seed = points // SEEDS
    phase1 = per_seed * 4 // 5
    rng = random.Random(5)
    engine = make_engine(DbSettings(database_url=url))
    try:
        with engine.begin() as connection:
            experiment_id = connection.execute(
                insert(Experiment)
                .values(
                    name="trace bench",
                    owner="admin",
                    priority=0,
                    status="completed",
                    spec=spec.model_dump(mode="json"),
                    spec_hash=spec.spec_hash(),
                    target="h3",
                    algorithm="reuse",
                    d=16,
                    width=8,
                    seeds=SEEDS,
                    attempt=1,
                    max_attempts=3,
                    cancel_requested=False,
                    samples_done=10**6,
                    samples_total=10**6,
                    created_at=now,
                    updated_at=now,
                    started_at=now,
                    finished_at=now,
                )
                .returning(Experiment.id)
            ).scalar_one()
            rows = []
            for seed in range(SEEDS):
                m = 0.05
                for k in range(per_seed):
                    phase = "phase1" if k < phase1 else "phase2"
                    step = (k + 1) * 10 if phase == "phase1" else (k - phase1 + 1) * 100
                    m = min(1.0, max(0.0, m + rng.gauss(0.0005, 0.01)))
                    loss = 1.0 - m**2 + abs(rng.gauss(0, 0.02))
                    rows.append(
                        {
                            "experiment_id": experiment_id,
                            "attempt": 1,
                            "seed": seed,
                            "phase": phase,
                            "step": step,
                            "samples": step * 4,
                            "mean_abs_m": m,
                            "median_abs_m": m * 0.98,
                            "max_abs_m": min(1.0, m * 1.2),
                            "frac_m_05": float(m > 0.5),
                            "frac_m_09": float(m > 0.9),
                            "train_loss": loss,
                            "test_mse": loss * 1.01 if k % 10 else math.nan,
                            "created_at": now,
                        }
                    )
            connection.execute(insert(TracePoint), rows)
        return experiment_id
    finally:
        engine.dispose()


def in_process(url: str, experiment_id: int, repeats: int) -> dict[str, Any]:
    """The route's two steps timed without HTTP: the query (crud.trace_rows) and the
    downsampling to 500 (crud.downsample)."""
    from api import crud
    from db.config import DbSettings
    from db.models import TRACE_METRICS
    from db.session import make_engine, make_sessionmaker

    engine = make_engine(DbSettings(database_url=url))
    query, down = [], []
    try:
        sessions = make_sessionmaker(engine)
        for _ in range(repeats):
            with sessions() as session:
                began = time.perf_counter()
                rows = crud.trace_rows(
                    session=session,
                    experiment_id=experiment_id,
                    metrics=list(TRACE_METRICS),
                    seeds=None,
                    phase=None,
                    step_min=None,
                    step_max=None,
                )
                query.append(time.perf_counter() - began)
            began = time.perf_counter()
            crud.downsample(rows, list(TRACE_METRICS), 500)
            down.append(time.perf_counter() - began)
    finally:
        engine.dispose()
    return {"query_all_points": summary_ms(query), "downsample_to_500": summary_ms(down)}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (< 1 min)")
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=None, help="default 60 (quick 8)")
    parser.add_argument("--redis-db", type=int, default=None)
    args = parser.parse_args()
    repeats = args.repeats or (8 if args.quick else 60)
    time_limit_s = 45 if args.quick else 200
    began = time.perf_counter()
    with stack(args.redis_db) as run:
        experiment_id = insert_experiment(run.database.url, args.points)
        base = run.api()
        key = run.admin_key()
        path = f"/experiments/{experiment_id}/trace"
        requests = {
            "health": ("/health", {}),
            "raw_json": (path, {"max_points": 1_000_000}),
            "downsampled_500_json": (path, {"max_points": 500}),
            "raw_csv": (path, {"max_points": 1_000_000, "format": "csv"}),
            "downsampled_500_csv": (path, {"max_points": 500, "format": "csv"}),
        }
        times: dict[str, list[float]] = {name: [] for name in requests}
        sizes: dict[str, int] = {}
        returned: dict[str, int] = {}
        deadline = time.monotonic() + time_limit_s
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client:
            for name, (url, params) in requests.items():  # warm-up, and the sizes
                response = client.get(url, params=params)
                response.raise_for_status()
                sizes[name] = len(response.content)
                if name.endswith("_json"):
                    returned[name] = len(response.json()["points"])
                elif name.endswith("_csv"):
                    returned[name] = response.text.count("\n") - 1
            for _ in range(repeats):
                if time.monotonic() > deadline:
                    break
                for name, (url, params) in requests.items():
                    start = time.perf_counter()
                    response = client.get(url, params=params)
                    _ = response.content
                    times[name].append(time.perf_counter() - start)
                    assert response.status_code == 200, (name, response.status_code)
        breakdown = in_process(run.database.url, experiment_id, min(repeats, 20))
    results: dict[str, Any] = {}
    floor = statistics.median(times["health"])
    for name, values in times.items():
        entry = {**summary_ms(values), "bytes": sizes[name]}
        if name in returned:
            entry["points_returned"] = returned[name]
        if name != "health":
            entry["ratio_median_to_health"] = round(statistics.median(values) / floor, 1)
        results[name] = entry
    for kind in ("json", "csv"):
        raw, down = results[f"raw_{kind}"], results[f"downsampled_500_{kind}"]
        results[f"ratio_raw_to_downsampled_{kind}"] = {
            "median": round(raw["median_ms"] / down["median_ms"], 2),
            "bytes": round(raw["bytes"] / down["bytes"], 1),
        }
    emit(
        {
            "benchmark": "trace_fetch",
            "description": "GET /experiments/{id}/trace with 10^4 points: raw vs downsampled to "
            "500, JSON and CSV, one request at a time, vs GET /health",
            "quick": args.quick,
            "setup": {
                "points": args.points,
                "seeds": SEEDS,
                "series": f"{SEEDS} seeds x (phase1 {args.points // SEEDS * 4 // 5}, phase2 "
                f"{args.points // SEEDS - args.points // SEEDS * 4 // 5})",
                "metrics": "all 7",
                "database": "PostgreSQL (fresh database)",
                "uvicorn_workers": 1,
                "repeats": repeats,
                "client": "httpx.Client, keep-alive",
            },
            "results": results,
            "in_process_breakdown": breakdown,
            "wall_s": round(time.perf_counter() - began, 1),
            "environment": environment(),
        }
    )


if __name__ == "__main__":
    sys.exit(main())
