"""API load: submit, list, get and trace against the real API on PostgreSQL with 10^5
experiments in the table, each as a ratio to GET /health (the framework's floor) measured in the
same run, and optionally MLflow's tracking server under the same load (bench/mlflow_side.py).

Set-up (all created and removed by this script): a fresh PostgreSQL database on 127.0.0.1:5432
(schema by `alembic upgrade head`), 10^5 experiments inserted by one INSERT … SELECT (8 owners
with a skewed share, statuses mostly finished, 6 targets, d from 16 to 512, test_mse log-normal
for finished runs, NULL otherwise, half of them tagged), one completed experiment with a 10^4-point
trace (bench/trace_fetch.py's), then `python -m api` (1 worker process
by default, `--workers 2` to compare) pointed at a spare Redis database as its broker.

Service settings chosen so that the bench measures the service, not its limits:
- SILAB_RATE_LIMIT_PER_S=0 (the per-key token bucket is off; with the default 20/s and burst 200
  most submissions and reads here would be 429),
- SILAB_DEFAULT_MAX_QUEUED=10^7 (the queued limit, default 1000, would refuse submissions),
- no worker: a submission is an insert, a commit and a doorbell message to Redis (the dispatch
  round runs in the maintenance worker, not in the request); the doorbell messages stay in Redis.

Load: an asyncio generator (httpx.AsyncClient, keep-alive) with `concurrency` requests in flight,
`requests` per phase at most and `phase_time_s` at most. For each concurrency (8 and 32) and each
round, the phases take turns: health, get (GET /experiments/{random id}), list (status=completed,
target=h3, sort=-test_mse, limit=50: a filter + sort first page), list_deep (the same with a cursor
from the middle of that result), submit (POST /experiments with a d = 16 spec). Latencies are
from send to the whole body read, so at a concurrency above the server's parallelism they include
queueing; requests/s is the throughput. Ratios: median and p99 latency over /health's at the same
concurrency, and throughput over /health's. Issue 10's goals, at concurrency 8: submit
throughput >= 0.5x /health's and >= MLflow's create-run; list and get p99 <= 3x /health's p99; a
raw trace fetch of 10^4 points <= 5x /health's median.

    python bench/api_load.py [--quick] [--workers 1|2] [--rows N] [--redis-db N] [--mlflow PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from typing import Any

import httpx
from common import parser as common_parser
from service_common import (
    Database,
    emit,
    environment,
    judge,
    load_now,
    merge_loads,
    run_phases,
    stack,
)

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
    """`rows` experiments (and tags on half of them) in SQL (bench/seed_sql.py); returns counts,
    timing and the ids."""
    import seed_sql

    from trainer.spec import ExperimentSpec

    spec = ExperimentSpec.model_validate(SPEC)
    mix = sys.modules[__name__]
    return seed_sql.seed_rows_sql(url, rows, mix, spec.model_dump(mode="json"), spec.spec_hash())


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
    trace_id: int,
) -> dict[str, Any]:
    rng = random.Random(11)
    headers = {"Authorization": f"Bearer {key}"}
    trace = f"/experiments/{trace_id}/trace"
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
                "trace": (
                    lambda i: client.get(trace, params={"max_points": 1_000_000}),
                    max(concurrency, requests // 4),
                ),
                "trace_columns": (
                    lambda i: client.get(
                        trace, params={"max_points": 1_000_000, "format": "columns"}
                    ),
                    max(concurrency, requests // 4),
                ),
                "submit": (
                    lambda i: client.post(
                        "/experiments", json={"spec": SPEC, "name": f"bench {i}", "tags": ["bench"]}
                    ),
                    submit_requests,
                ),
            }
            per = results.setdefault(str(concurrency), {name: [] for name in phases})
            loads = await run_phases(
                client, phases, concurrency=concurrency, rounds=rounds, phase_time_s=phase_time_s
            )
            for name, runs in loads.items():
                per[name].extend(runs)
    out: dict[str, Any] = {}
    for concurrency, per in results.items():
        merged = {name: merge_loads(loads) for name, loads in per.items()}
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


def in_process(url: str, key: str, experiment_id: int, repeats: int = 30) -> dict[str, Any]:
    """One list and one get request's parts without HTTP, one at a time, in this process: the
    key lookup, the list query (with its tags), the list page's serialization, and a get with
    its serialization. What a request costs before any queueing."""
    import statistics
    import tempfile
    from pathlib import Path

    from api import accounts
    from api.config import ApiSettings
    from api.listing import Filters
    from api.schemas import ExperimentPublic, ExperimentsPublic
    from api.services import experiments
    from api.services.context import Context
    from db.config import DbSettings
    from db.models import Experiment
    from db.session import make_engine, make_sessionmaker

    engine = make_engine(DbSettings(database_url=url))
    settings = ApiSettings(data_dir=Path(tempfile.mkdtemp()), broker_url=None)
    filters = Filters(status=[LIST_PARAMS["status"]], target=LIST_PARAMS["target"])
    parts: dict[str, list[float]] = {"auth": [], "list_query": [], "list_serialize": [], "get": []}
    try:
        sessions = make_sessionmaker(engine)
        for r in range(repeats + 3):
            with sessions() as session:
                t0 = time.perf_counter()
                principal = accounts.authenticate(key, session=session)
                session.rollback()
                t1 = time.perf_counter()
                assert principal is not None
                ctx = Context(session=session, principal=principal, settings=settings, dispatch=int)
                page = experiments.list_experiments(
                    filters, ctx=ctx, sort=str(LIST_PARAMS["sort"]), limit=50, cursor=None
                )
                t2 = time.perf_counter()
                ExperimentsPublic.of(page.items, page.next_cursor).model_dump_json()
                t3 = time.perf_counter()
                shown = session.get(Experiment, experiment_id)
                ExperimentPublic.model_validate(shown).model_dump_json()
                t4 = time.perf_counter()
            if r >= 3:  # after a warm-up
                for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                    parts[name].append(seconds)
    finally:
        engine.dispose()
    return {name: round(statistics.median(v) * 1000, 2) for name, v in parts.items()} | {
        "unit": "ms, median of one request at a time",
        "repeats": repeats,
    }


def goals(
    results: dict[str, Any], mlflow: dict[str, Any] | None, alone: dict[str, Any]
) -> dict[str, Any]:
    """Issue 10's goals at concurrency 8, each with its figure, meets_goal, and for a miss by
    how much and why (from this run's own figures)."""
    at8 = results.get("concurrency_8")
    if not at8:
        return {"note": "concurrency 8 was not measured"}
    health = at8["health"]
    shared = (
        f"one uvicorn process, PostgreSQL and this load generator share the 2 cores (load "
        f"average {load_now()} at the end)"
    )

    def tail(name: str) -> str:
        figure = at8[name]
        per_request = 1000 / figure["requests_per_s"]
        floor = 1000 / health["requests_per_s"]
        alone_ms = (
            f"auth {alone['auth']:g} + list query {alone['list_query']:g} + serialize "
            f"{alone['list_serialize']:g} ms"
            if name.startswith("list")
            else f"auth {alone['auth']:g} + get {alone['get']:g} ms"
        )
        return (
            f"p99 {figure['p99_ms']:g} ms against /health's {health['p99_ms']:g}, median "
            f"{figure['ratio_median_to_health']}x: the one process spends {per_request:.1f} ms a "
            f"request (1 / throughput) against /health's {floor:.1f}, and 8 in flight queue for "
            f"it; one at a time in process: {alone_ms} (in_process_breakdown, mostly PostgreSQL "
            f"round trips waiting for a CPU); {shared}"
        )

    submit = at8["submit"]
    trace, columns = at8["trace"], at8["trace_columns"]
    out: dict[str, Any] = {
        "submit_throughput_over_health": judge(
            submit["ratio_throughput_to_health"],
            ">= 0.5",
            f"submit {submit['requests_per_s']}/s against /health's {health['requests_per_s']}/s:"
            f" a submit is a transaction (key lookup, account row lock, queued-limit count, "
            f"trace-quota sum, insert, audit row, commit, a Redis doorbell), median "
            f"{submit['median_ms']:g} ms; {shared}",
        ),
        "list_p99_over_health_p99": judge(at8["list"]["ratio_p99_to_health"], "<= 3", tail("list")),
        "list_deep_p99_over_health_p99": judge(
            at8["list_deep"]["ratio_p99_to_health"], "<= 3", tail("list_deep")
        ),
        "get_p99_over_health_p99": judge(at8["get"]["ratio_p99_to_health"], "<= 3", tail("get")),
        "trace_10k_median_over_health_median": judge(
            round(trace["median_ms"] / health["median_ms"], 2),
            "<= 5",
            f"format=json builds one object per point (10^4 dicts, then orjson): median "
            f"{trace['median_ms']:g} ms against columns' {columns['median_ms']:g} ms in the "
            f"same run; {shared}",
        ),
        "trace_columns_10k_median_over_health_median": judge(
            round(columns["median_ms"] / health["median_ms"], 2),
            "<= 5",
            f"median {columns['median_ms']:g} ms against /health's {health['median_ms']:g}: "
            f"the chunks' decode and the ~1 MB body; {shared}",
        ),
    }
    if mlflow and "concurrency_8" in mlflow:
        theirs = mlflow["concurrency_8"]["create_run"]["requests_per_s"]
        ours = submit["requests_per_s"]
        out["submit_over_mlflow_create_run"] = judge(
            round(ours / theirs, 2),
            ">= 1",
            f"silab {ours}/s against MLflow's {theirs}/s in the same run: see "
            "submit_throughput_over_health",
        )
    else:
        out["submit_over_mlflow_create_run"] = {
            "goal": ">= 1",
            "meets_goal": None,
            "note": "not measured in this run: no MLflow executable (--mlflow); the last run "
            "with MLflow 3.17.2 (commit 2964626) had 0.41",
        }
    return out


def compare_mlflow(results: dict[str, Any], mlflow: dict[str, Any]) -> dict[str, Any]:
    """silab's figure over MLflow's for each pair of matching phases (> 1: silab slower)."""
    pairs = {
        "submit_vs_create_run": ("submit", "create_run"),
        "get_vs_get_run": ("get", "get_run"),
        "list_vs_search_runs": ("list", "search_runs"),
        "trace_vs_metric_history_10k": ("trace", "metric_history_10k"),
        "trace_columns_vs_metric_history_10k": ("trace_columns", "metric_history_10k"),
        "health_vs_health": ("health", "health"),
    }
    out: dict[str, Any] = {}
    for concurrency, ours in results.items():
        theirs = mlflow.get(concurrency)
        if not theirs:
            continue
        out[concurrency] = {
            name: {
                "median_ms_silab_over_mlflow": round(
                    ours[a]["median_ms"] / theirs[b]["median_ms"], 2
                ),
                "p99_ms_silab_over_mlflow": round(ours[a]["p99_ms"] / theirs[b]["p99_ms"], 2),
                "throughput_silab_over_mlflow": round(
                    ours[a]["requests_per_s"] / theirs[b]["requests_per_s"], 2
                ),
            }
            for name, (a, b) in pairs.items()
            if ours.get(a, {}).get("n") and theirs.get(b, {}).get("n")
        }
    return out


def run_mlflow(
    run: Any, args: argparse.Namespace, rows: int, plan: dict[str, Any]
) -> dict[str, Any]:
    """MLflow's tracking server on its own fresh database of the same PostgreSQL server, seeded
    alike, under the same load; {"installed": False, ...} when there is no executable."""
    import shutil

    import mlflow_side

    path = args.mlflow and shutil.which(args.mlflow)
    if not path:
        return {
            "installed": False,
            "note": "no mlflow executable given (--mlflow PATH); see bench/mlflow_side.py",
        }
    database = Database()
    try:
        base = mlflow_side.start(run, path, database)
        seeded = mlflow_side.seed(database, rows)
        ids = seeded.pop("ids")
        history = mlflow_side.history_run(base)
        figures = asyncio.run(
            mlflow_side.measure(
                base,
                ids,
                history,
                args.concurrency,
                plan["rounds"],
                plan["requests"],
                plan["phase_time_s"],
            )
        )
        version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
        return {
            "installed": True,
            "version": version.strip(),
            "server": "mlflow server --workers 1, PostgreSQL backend store (psycopg2)",
            "seeded": seeded,
            "search_runs": mlflow_side.SEARCH,
            "results": figures,
        }
    finally:
        for proc in [p for p in run.procs if p.name == "mlflow"]:
            proc.kill()
        database.drop()


def main() -> None:
    parser = common_parser(__doc__, quick="10^4 rows, fewer requests (< 1 min)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--rows", type=int, default=None, help="default 10^5 (quick 10^4)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument(
        "--mlflow", default=None, help="an mlflow executable (its own venv): run it alike too"
    )
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
    }
    plan = {"rounds": rounds, "requests": requests, "phase_time_s": phase_time_s}
    began = time.perf_counter()
    with stack(args.redis_db, **settings) as run:
        seeded = seed_rows(run.database.url, rows)
        ids = seeded.pop("ids")
        cursor, filtered = deep_cursor(run.database.url)
        from trace_fetch import insert_experiment  # here: trace_fetch imports SPEC from here

        trace_id, storage = insert_experiment(run.database.url, 10_000)
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
                trace_id,
            )
        )
        import redis
        from sqlalchemy import create_engine, text

        engine = create_engine(run.database.url)
        with engine.connect() as connection:
            submitted = connection.execute(
                text("SELECT count(*) FROM experiment WHERE owner = 'admin'")
            ).scalar_one()
        engine.dispose()
        client = redis.Redis.from_url(str(run.broker_url))
        doorbell_messages = client.llen("silab.maintain")
        client.close()
        api_log = run.procs[0].text()[-2000:]
        alone = in_process(run.database.url, key, ids[len(ids) // 2])
        load_after_silab = os.getloadavg()
        mlflow = run_mlflow(run, args, rows, plan)
    emit(
        {
            "benchmark": "api_load",
            "description": "POST /experiments per second, GET /experiments (filter+sort, deep "
            "cursor) and GET /experiments/{id} latency vs GET /health, on PostgreSQL "
            f"with {rows} experiments; uvicorn subprocess, httpx.AsyncClient load",
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
                "raised so the bench measures the service, not the limiter; no worker runs: "
                "a submission's dispatch round would run in the maintenance worker",
                "trace_experiment": {"points": 10_000, "storage": storage},
                "rounds": rounds,
                "requests_per_phase": requests,
                "submit_requests_per_phase": submit_requests,
                "phase_time_limit_s": phase_time_s,
                "load_generator": "asyncio + httpx.AsyncClient in this process, on the same 2 CPUs "
                "as the server and PostgreSQL",
            },
            "submissions": {
                "stored": submitted,
                "doorbell_messages_left_in_redis": doorbell_messages,
            },
            "results": figures,
            "goals": goals(figures, mlflow.get("results"), alone),
            "in_process_breakdown": alone,
            "mlflow": mlflow,
            "silab_over_mlflow": compare_mlflow(figures, mlflow["results"])
            if mlflow.get("results")
            else None,
            "load_average_1_5_15_min_after_silab_phases": [round(v, 2) for v in load_after_silab],
            "api_log_tail": api_log if "Traceback" in api_log else "",
            "wall_s": round(time.perf_counter() - began, 1),
            "environment": environment(uvicorn_workers=args.workers),
        }
    )


if __name__ == "__main__":
    sys.exit(main())
