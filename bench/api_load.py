"""API load: submissions per second and list/get latency against the real API on PostgreSQL with
10^5 experiments in the table, with GET /health (the framework's floor) as the baseline.

Set-up (all created and removed by this script): a fresh PostgreSQL database on 127.0.0.1:5432
(schema by `alembic upgrade head`), 10^5 experiments bulk-inserted with SQLAlchemy core (8 owners
with a skewed share, statuses mostly finished, 6 targets, d from 16 to 512, test_mse log-normal
for finished runs, NULL otherwise, half of them tagged), then `python -m api` (1 worker
process by default, `--workers 2` to compare) pointed at a spare Redis database as its broker.

Service settings chosen so that the bench measures the service, not its limits:
- SILAB_RATE_LIMIT_PER_S=0 (the per-key token bucket is off; with the default 20/s and burst 200
  most submissions and reads here would be 429),
- SILAB_DEFAULT_MAX_QUEUED=10^7 (the queued limit, default 1000, would refuse submissions),
- SILAB_WORKER_SLOTS=10^6 and the seeded queued rows marked as just sent: every submission's
  dispatch round (db.scheduler, run inside POST /experiments) finds free slots and really sends
  its experiment to Redis (`dispatched` in the JSON counts them). No worker consumes them.

Load: an asyncio generator (httpx.AsyncClient, keep-alive) with `concurrency` requests in flight,
`requests` per phase at most and `phase_time_s` at most. For each concurrency (8 and 32) and each
round, the phases take turns: health, get (GET /experiments/{random id}), list (status=completed,
target=h3, sort=-test_mse, limit=50: a filter + sort first page), list_deep (the same with a cursor
from the middle of that result), submit (POST /experiments with a d = 16 spec). Latencies are
from send to the whole body read, so at a concurrency above the server's parallelism they include
queueing; requests/s is the throughput. Ratios: median and p99 latency over /health's at the same
concurrency, and throughput over /health's.

    python bench/api_load.py [--quick] [--workers 1|2] [--rows N] [--redis-db N]
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from common import parser as common_parser
from service_common import emit, environment, run_load, stack, summary_ms

SPEC: dict[str, Any] = {
    "d": 16,
    "seeds": 2,
    "target": "h3",
    "model": {"width": 8, "activation": {"hermite": {3: 6**0.5}}},
    "phase1": {
        "algorithm": "reuse",
        "batch_size": 1,
        "stages": [{"steps": 64, "inner_lr": "0.3/d", "lr": "0.05/(d*log(d))"}],
    },
    "phase2": {"samples": 200},
    "eval": {"test_samples": 64, "points": 4},
    "device": "cpu",
}
OWNERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
OWNER_WEIGHTS = [30, 20, 15, 10, 10, 7, 5, 3]
STATUSES = ["completed", "failed", "diverged", "cancelled", "queued", "running"]
STATUS_WEIGHTS = [70, 8, 4, 4, 12, 2]
TARGETS = ["h3", "h2", "h3+h4", "h4", "h2+h3", "hermite:3=0.5,4=0.8"]
TARGET_WEIGHTS = [40, 15, 20, 10, 10, 5]
DS = [16, 32, 64, 128, 256, 512]
LIST_PARAMS = {"status": "completed", "target": "h3", "sort": "-test_mse", "limit": 50}


def seed_rows(url: str, rows: int) -> dict[str, Any]:
    """Bulk insert `rows` experiments (and tags on half of them); returns counts and timing."""
    from sqlalchemy import insert, select

    from db.config import DbSettings
    from db.models import Experiment, ExperimentTag
    from db.session import make_engine
    from trainer.spec import ExperimentSpec

    spec = ExperimentSpec.model_validate(SPEC)
    spec_json, spec_hash = spec.model_dump(mode="json"), spec.spec_hash()
    rng = random.Random(7)
    now = datetime.now(UTC)
    start = now - timedelta(days=90)
    step = timedelta(days=90) / rows
    batch: list[dict[str, Any]] = []
    engine = make_engine(DbSettings(database_url=url))
    began = time.perf_counter()
    try:
        with engine.begin() as connection:
            for i in range(rows):
                status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
                created = start + step * i
                finished = status in ("completed", "failed", "diverged", "cancelled")
                ran = status not in ("queued", "cancelled") or rng.random() < 0.5
                d = rng.choice(DS)
                batch.append(
                    {
                        "name": f"run {i}",
                        "owner": rng.choices(OWNERS, OWNER_WEIGHTS)[0],
                        "priority": rng.choice([0, 0, 0, 10, -10]),
                        "status": status,
                        "spec": {**spec_json, "d": d},
                        "spec_hash": spec_hash,
                        "target": rng.choices(TARGETS, TARGET_WEIGHTS)[0],
                        "algorithm": rng.choice(["reuse", "online"]),
                        "d": d,
                        "width": 8,
                        "seeds": rng.choice([1, 8, 32]),
                        "attempt": 1 if ran else 0,
                        "max_attempts": 3,
                        "cancel_requested": False,
                        # queued rows: sent just now (in flight), so they hold slots but are not
                        # resent by the submissions' dispatch rounds
                        "dispatched_at": created if status != "queued" else now,
                        "samples_done": 10**5 if finished else 0,
                        "samples_total": 10**5,
                        "created_at": created,
                        "updated_at": created,
                        "started_at": created + timedelta(seconds=5) if ran else None,
                        "finished_at": created + timedelta(minutes=10)
                        if finished and ran
                        else None,
                        "lease_expires_at": now + timedelta(hours=1)
                        if status == "running"
                        else None,
                        "test_mse": (
                            rng.lognormvariate(-3, 1.5)
                            if status == "completed"
                            else rng.lognormvariate(0, 1)
                            if status == "diverged"
                            else None
                        ),
                        "final_median_abs_m": rng.random() if status == "completed" else None,
                        "wall_time_s": rng.uniform(5, 3600) if status == "completed" else None,
                        "error": "RuntimeError: boom" if status == "failed" else None,
                    }
                )
                if len(batch) == 5000:
                    connection.execute(insert(Experiment), batch)
                    batch.clear()
            if batch:
                connection.execute(insert(Experiment), batch)
            ids = connection.scalars(select(Experiment.id)).all()
            tags = [{"experiment_id": i, "tag": f"t{i % 50}"} for i in ids if i % 2 == 0]
            for k in range(0, len(tags), 10_000):
                connection.execute(insert(ExperimentTag), tags[k : k + 10_000])
        with engine.begin() as connection:
            from sqlalchemy import text

            connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return {
        "rows": rows,
        "tagged": len(tags),
        "seconds": round(time.perf_counter() - began, 1),
        "ids": list(ids),
    }


def deep_cursor(url: str) -> tuple[str, int]:
    """A cursor from the middle of LIST_PARAMS's result (what a client gets after walking half of
    it), and the size of that result."""
    from sqlalchemy import func, select

    from api import listing
    from db.config import DbSettings
    from db.models import Experiment
    from db.session import make_engine, make_sessionmaker

    engine = make_engine(DbSettings(database_url=url))
    try:
        with make_sessionmaker(engine)() as session:
            where = [Experiment.status == "completed", Experiment.target == "h3"]
            total = session.scalar(select(func.count()).select_from(Experiment).where(*where))
            middle = session.scalars(
                select(Experiment)
                .where(*where)
                .order_by(Experiment.test_mse.desc().nulls_last(), Experiment.id.desc())
                .offset(total // 2)
                .limit(1)
            ).one()
            return listing.encode_cursor(listing.Sort.parse("-test_mse"), middle), total
    finally:
        engine.dispose()


async def measure(
    base: str,
    key: str,
    ids: list[int],
    concurrencies: list[int],
    rounds: int,
    requests: int,
    submit_requests: int,
    phase_time_s: float,
    cursor: str,
) -> dict[str, Any]:
    rng = random.Random(11)
    headers = {"Authorization": f"Bearer {key}"}
    results: dict[str, dict[str, list[Any]]] = {}
    for concurrency in concurrencies:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=base, headers=headers, limits=limits, timeout=30
        ) as client:
            phases = {
                "health": (lambda i: client.get("/health"), requests),
                "get": (lambda i: client.get(f"/experiments/{rng.choice(ids)}"), requests),
                "list": (lambda i: client.get("/experiments", params=LIST_PARAMS), requests),
                "list_deep": (
                    lambda i: client.get("/experiments", params={**LIST_PARAMS, "cursor": cursor}),
                    requests,
                ),
                "submit": (
                    lambda i: client.post(
                        "/experiments", json={"spec": SPEC, "name": f"bench {i}", "tags": ["bench"]}
                    ),
                    submit_requests,
                ),
            }
            # warm-up: connections open, caches and the first-request costs paid
            for request, _ in phases.values():
                await run_load(
                    client, request, total=concurrency, concurrency=concurrency, time_limit_s=10
                )
            per = results.setdefault(str(concurrency), {name: [] for name in phases})
            for _ in range(rounds):
                for name, (request, total) in phases.items():
                    per[name].append(
                        await run_load(
                            client,
                            request,
                            total=total,
                            concurrency=concurrency,
                            time_limit_s=phase_time_s,
                        )
                    )
    out: dict[str, Any] = {}
    for concurrency, per in results.items():
        merged: dict[str, Any] = {}
        for name, loads in per.items():
            latencies = [x for load in loads for x in load.latencies]
            wall = sum(load.wall_s for load in loads)
            statuses: dict[str, int] = {}
            for load in loads:
                for code, n in load.statuses.items():
                    statuses[str(code)] = statuses.get(str(code), 0) + n
            merged[name] = {
                **summary_ms(latencies),
                "requests_per_s": round(len(latencies) / wall, 1),
                "statuses": statuses,
                "stopped_by_time_limit": any(x.stopped_by_time for x in loads),
            }
        floor = merged["health"]
        for name, figures in merged.items():
            if name != "health" and figures.get("n"):
                figures["ratio_median_to_health"] = round(
                    figures["median_ms"] / floor["median_ms"], 2
                )
                figures["ratio_p99_to_health"] = round(figures["p99_ms"] / floor["p99_ms"], 2)
                figures["ratio_throughput_to_health"] = round(
                    figures["requests_per_s"] / floor["requests_per_s"], 3
                )
        out[f"concurrency_{concurrency}"] = merged
    return out


def main() -> None:
    parser = common_parser(__doc__, quick="10^4 rows, fewer requests (< 1 min)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--rows", type=int, default=None, help="default 10^5 (quick 10^4)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument(
        "--redis-db",
        type=int,
        default=None,
        help="Redis database for the broker (default: an empty one in 1..15)",
    )
    args = parser.parse_args()
    rows = args.rows or (10_000 if args.quick else 100_000)
    rounds = 1 if args.quick else 2
    requests = 100 if args.quick else 400
    submit_requests = 50 if args.quick else 200
    phase_time_s = 4.0 if args.quick else 12.0

    settings = {
        "SILAB_RATE_LIMIT_PER_S": "0",
        "SILAB_DEFAULT_MAX_QUEUED": "10000000",
        "SILAB_WORKER_SLOTS": "1000000",
        "SILAB_RESEND_AFTER_S": "3600",
    }
    began = time.perf_counter()
    with stack(args.redis_db, **settings) as run:
        seeded = seed_rows(run.database.url, rows)
        ids = seeded.pop("ids")
        cursor, filtered = deep_cursor(run.database.url)
        base = run.api(workers=args.workers)
        key = run.admin_key()
        figures = asyncio.run(
            measure(
                base,
                key,
                ids,
                args.concurrency,
                rounds,
                requests,
                submit_requests,
                phase_time_s,
                cursor,
            )
        )
        import redis
        from sqlalchemy import create_engine, text

        engine = create_engine(run.database.url)
        with engine.connect() as connection:
            submitted, dispatched = connection.execute(
                text("SELECT count(*), count(dispatched_at) FROM experiment WHERE owner = 'admin'")
            ).one()
        engine.dispose()
        client = redis.Redis.from_url(run.broker_url)
        queued_messages = client.llen("celery")
        client.close()
        api_log = run.procs[0].text()[-2000:]
    emit(
        {
            "benchmark": "api_load",
            "description": "POST /experiments per second, GET /experiments (filter+sort, deep "
            "cursor) and GET /experiments/{id} latency vs GET /health, on PostgreSQL "
            "with 10^5 experiments; uvicorn subprocess, httpx.AsyncClient load",
            "quick": args.quick,
            "setup": {
                "uvicorn_workers": args.workers,
                "database": "PostgreSQL (fresh database, alembic upgrade head)",
                "broker": "Redis (spare database)",
                "seeded": seeded,
                "list_params": LIST_PARAMS,
                "list_result_rows": filtered,
                "deep_cursor": "from the middle of the list result",
                "service_settings": settings,
                "settings_note": "rate limit off (SILAB_RATE_LIMIT_PER_S=0) and the queued limit "
                "raised so the bench measures the service, not the limiter; "
                "SILAB_WORKER_SLOTS high so each submission's dispatch round sends "
                "its experiment to Redis",
                "rounds": rounds,
                "requests_per_phase": requests,
                "submit_requests_per_phase": submit_requests,
                "phase_time_limit_s": phase_time_s,
                "load_generator": "asyncio + httpx.AsyncClient in this process, on the same 2 CPUs "
                "as the server and PostgreSQL",
            },
            "submissions": {
                "stored": submitted,
                "dispatched_to_broker": dispatched,
                "messages_left_in_redis": queued_messages,
            },
            "results": figures,
            "api_log_tail": api_log if "Traceback" in api_log else "",
            "wall_s": round(time.perf_counter() - began, 1),
            "environment": environment(uvicorn_workers=args.workers),
        }
    )


if __name__ == "__main__":
    sys.exit(main())
