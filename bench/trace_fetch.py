"""Trace fetch: GET /experiments/{id}/trace for an experiment with 10^4 trace points, raw (every
point) against downsampled to 500, as JSON and as CSV, with GET /health as the floor.

Set-up (created and removed by this script): a fresh PostgreSQL database (alembic upgrade head),
one completed experiment with 4 seeds x (2000 phase-1 + 500 phase-2 evaluations) = 10^4 trace
points inserted directly (SQLAlchemy core), and `python -m api` (1 process). One client,
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
from common import parser as common_parser
from service_common import emit, environment, judge, load_now, stack, summary_ms

SEEDS = 4


def insert_experiment(url: str, points: int) -> int:
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from db import traces
    from db.config import DbSettings
    from db.models import Experiment
    from db.session import make_engine, make_sessionmaker
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
                        }
                    )
        with make_sessionmaker(engine)() as session:
            traces.merge_points(experiment_id, session=session, attempt=1, rows=rows)
            session.commit()
        storage = bytes_per_point(engine, experiment_id, rows)
        return experiment_id, storage
    finally:
        engine.dispose()


# The trace_point table as it was before migration tracechunk01: the same-run baseline of storage.
BEFORE_DDL = """
CREATE TABLE trace_point_before (
    id BIGSERIAL PRIMARY KEY,
    experiment_id BIGINT NOT NULL REFERENCES experiment (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL, seed BIGINT NOT NULL, phase VARCHAR(16) NOT NULL,
    step BIGINT NOT NULL, samples BIGINT NOT NULL,
    mean_abs_m FLOAT, median_abs_m FLOAT, max_abs_m FLOAT, frac_m_05 FLOAT, frac_m_09 FLOAT,
    train_loss FLOAT, test_mse FLOAT, created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (experiment_id, seed, phase, step)
)"""


def bytes_per_point(engine: Any, experiment_id: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Table + index + TOAST bytes per point: the old one-row-per-point table holding the same
    points (built here, then dropped) against trace_chunk, after VACUUM."""
    from sqlalchemy import text

    before_rows = [
        {**r, "experiment_id": experiment_id, "attempt": 1}
        | {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in rows
    ]
    names = list(before_rows[0])
    with engine.begin() as connection:
        connection.execute(text(BEFORE_DDL))
        connection.execute(
            text(
                f"INSERT INTO trace_point_before ({', '.join(names)}) "
                f"VALUES ({', '.join(':' + n for n in names)})"
            ),
            before_rows,
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE trace_point_before"))
        connection.execute(text("VACUUM ANALYZE trace_chunk"))
        size = {
            table: connection.execute(
                text("SELECT pg_total_relation_size(:t)"), {"t": table}
            ).scalar_one()
            for table in ("trace_point_before", "trace_chunk")
        }
        payload = connection.execute(text("SELECT sum(length(data)) FROM trace_chunk")).scalar_one()
        connection.execute(text("DROP TABLE trace_point_before"))
    n = len(rows)
    before, after = size["trace_point_before"] / n, size["trace_chunk"] / n
    return {
        "points": n,
        "before_trace_point_bytes_per_point": round(before, 1),
        "after_trace_chunk_bytes_per_point": round(after, 1),
        "after_compressed_payload_bytes_per_point": round(payload / n, 1),
        "ratio_before_to_after": round(before / after, 1),
        "note": "pg_total_relation_size (heap, indexes, TOAST) after VACUUM; the synthetic "
        "curves are random walks, a real trace compresses about as well (~16 B/point on a "
        "trainer run of d=16)",
    }


def in_process(url: str, experiment_id: int, repeats: int) -> dict[str, Any]:
    """The route's two steps timed without HTTP: reading and decoding the chunks
    (db.traces.read_series) and the downsampling to 500 (api.services.trace_downsample)."""
    from api.schemas import TRACE_METRICS
    from api.services import traces
    from api.services.trace_downsample import downsample
    from db.config import DbSettings
    from db.session import make_engine, make_sessionmaker

    engine = make_engine(DbSettings(database_url=url))
    query, down = [], []
    try:
        sessions = make_sessionmaker(engine)
        for _ in range(repeats):
            with sessions() as session:
                began = time.perf_counter()
                series = traces.TraceQuery(experiment_id, list(TRACE_METRICS)).series(session)
                query.append(time.perf_counter() - began)
            began = time.perf_counter()
            downsample(series, list(TRACE_METRICS), 500)
            down.append(time.perf_counter() - began)
    finally:
        engine.dispose()
    return {"query_all_points": summary_ms(query), "downsample_to_500": summary_ms(down)}


def main() -> None:

    parser = common_parser(__doc__, quick="fewer repeats (< 1 min)")
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=None, help="default 60 (quick 8)")
    parser.add_argument("--redis-db", type=int, default=None)
    args = parser.parse_args()
    repeats = args.repeats or (8 if args.quick else 60)
    time_limit_s = 45 if args.quick else 200
    began = time.perf_counter()
    with stack(args.redis_db) as run:
        experiment_id, storage = insert_experiment(run.database.url, args.points)
        base = run.api()
        key = run.admin_key()
        path = f"/experiments/{experiment_id}/trace"
        requests = {
            "health": ("/health", {}),
            "raw_json": (path, {"max_points": 1_000_000}),
            "raw_columns_json": (path, {"max_points": 1_000_000, "format": "columns"}),
            "raw_arrow": (path, {"max_points": 1_000_000, "format": "arrow"}),
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
                if name == "raw_columns_json":
                    returned[name] = sum(len(s["step"]) for s in response.json()["series"])
                elif name.endswith("_json"):
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
    goals: dict[str, Any] = {}
    query_ms = breakdown["query_all_points"]["median_ms"]
    for name in ("raw_json", "raw_columns_json", "raw_arrow", "raw_csv"):
        figure = results[name]
        goals[f"{name}_10k_median_over_health_median"] = judge(
            figure["ratio_median_to_health"],
            "<= 5",
            f"median {figure['median_ms']:g} ms against /health's {floor * 1000:.3g} ms; reading "
            f"and decoding the chunks alone takes {query_ms:g} ms in process, the rest is "
            f"writing {figure['bytes']} bytes in Python; one uvicorn process, PostgreSQL and "
            f"this client share the 2 cores (load average {load_now()} at the end)",
        )
    for kind in ("json", "csv"):
        ratio = round(
            results[f"downsampled_500_{kind}"]["median_ms"] / results[f"raw_{kind}"]["median_ms"], 2
        )
        goals[f"downsampled_{kind}_over_raw_{kind}"] = judge(
            ratio,
            "<= 1",
            f"the downsampling to 500 takes {breakdown['downsample_to_500']['median_ms']:g} ms "
            f"in process on top of the same read ({query_ms:g} ms)",
        )
    goals["storage_before_over_after"] = judge(
        storage["ratio_before_to_after"],
        ">= 5",
        f"{storage['after_trace_chunk_bytes_per_point']} bytes a point in trace_chunk against "
        f"{storage['before_trace_point_bytes_per_point']} in trace_point",
    )
    emit(
        {
            "benchmark": "trace_fetch",
            "description": "GET /experiments/{id}/trace with 10^4 points: raw (JSON per point, "
            "columnar JSON, Arrow IPC, CSV) vs downsampled to 500, one request at a time, vs GET "
            "/health; and storage bytes per point, trace_point (before) vs trace_chunk",
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
            "storage": storage,
            "goals": goals,
            "wall_s": round(time.perf_counter() - began, 1),
            "environment": environment(),
        }
    )


if __name__ == "__main__":
    sys.exit(main())
