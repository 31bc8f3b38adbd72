"""MLflow's tracking server beside silab in bench/api_load.py: the same load tool, concurrency and
PostgreSQL server, on a store seeded like silab's (issue 10's comparison).

MLflow is not a dependency of silab: it lives in a venv of its own, made once with

    python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow psycopg2-binary

and api_load.py is given its `mlflow` executable (`--mlflow /tmp/mlflow-venv/bin/mlflow`). The
server: `mlflow server --backend-store-uri postgresql+psycopg2://... --workers 1` on a fresh
database (MLflow creates its schema at start). Seeding: `rows` runs inserted with SQL into its
runs, tags (target) and latest_metrics (test_mse of finished runs) tables, as api_load seeds
silab's experiment table, then one run with a 10^4-point metric history logged through
runs/log-batch. The phases mirror silab's: create-run (submit), get-run (get), search-runs with a
filter and a metric sort (list), get-metric-history (trace, one metric; silab's trace returns all
7 metrics of each point), /health.
"""

from __future__ import annotations

import random
import secrets
import time
from typing import Any

import httpx
from service_common import Database, Stack, free_port, merge_loads, run_phases, wait_until

API = "/api/2.0/mlflow"
SEARCH = {
    "experiment_ids": ["0"],
    "filter": "attributes.status = 'FINISHED' and tags.target = 'h3'",
    "order_by": ["metrics.test_mse DESC"],
    "max_results": 50,
}
HISTORY_POINTS = 10_000


def seed(database: Database, rows: int) -> dict[str, Any]:
    """`rows` runs with a target tag, and test_mse for the finished ones (70%, as api_load)."""
    from sqlalchemy import create_engine, text

    rng = random.Random(7)
    engine = create_engine(database.url)
    began = time.perf_counter()
    now_ms = int(time.time() * 1000)
    targets, weights = ["h3", "h2", "h3+h4", "h4", "h2+h3", "h5"], [40, 15, 20, 10, 10, 5]
    statuses, status_weights = ["FINISHED", "FAILED", "KILLED", "RUNNING"], [78, 8, 4, 10]
    run_rows, tag_rows, metric_rows = [], [], []
    for i in range(rows):
        run = secrets.token_hex(16)
        status = rng.choices(statuses, status_weights)[0]
        run_rows.append(
            {
                "u": run,
                "n": f"run {i}",
                "s": status,
                "t": now_ms - (rows - i) * 1000,
                "a": f"mlflow-artifacts:/0/{run}/artifacts",
            }
        )
        tag_rows.append({"u": run, "v": rng.choices(targets, weights)[0]})
        if status == "FINISHED":
            metric_rows.append({"u": run, "v": rng.lognormvariate(-3, 1.5), "t": now_ms})
    with engine.begin() as connection:
        for k in range(0, rows, 10_000):
            connection.execute(
                text(
                    "INSERT INTO runs (run_uuid, name, source_type, source_name, "
                    "entry_point_name, user_id, status, start_time, end_time, source_version, "
                    "lifecycle_stage, artifact_uri, experiment_id) VALUES (:u, :n, 'LOCAL', '', "
                    "'', 'bench', :s, :t, :t, '', 'active', :a, 0)"
                ),
                run_rows[k : k + 10_000],
            )
            connection.execute(
                text("INSERT INTO tags (key, value, run_uuid) VALUES ('target', :v, :u)"),
                tag_rows[k : k + 10_000],
            )
        for k in range(0, len(metric_rows), 10_000):
            connection.execute(
                text(
                    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES ('test_mse', :v, :t, 0, false, :u)"
                ),
                metric_rows[k : k + 10_000],
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    engine.dispose()
    return {
        "rows": rows,
        "finished_with_test_mse": len(metric_rows),
        "seconds": round(time.perf_counter() - began, 1),
        "ids": [r["u"] for r in run_rows],
    }


def start(run: Stack, mlflow: str, database: Database) -> str:
    """`mlflow server` on a free port against `database`; its base URL once /health answers."""
    port = free_port()
    uri = database.url.replace("postgresql+psycopg:", "postgresql+psycopg2:")
    argv = [
        mlflow,
        "server",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        f"file://{run.tmp / 'mlruns'}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    proc = run.start("mlflow", argv, {**run.env(), "PYTHONPATH": ""})
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if not proc.alive():
            raise RuntimeError(f"mlflow exited:\n{proc.text()[-3000:]}")
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(up, 180, "mlflow server to answer /health", interval=0.5)
    return url


def history_run(base: str) -> str:
    """A run with a HISTORY_POINTS-point history of metric `mean_abs_m` (runs/log-batch)."""
    with httpx.Client(base_url=base, timeout=60) as client:
        created = client.post(f"{API}/runs/create", json={"experiment_id": "0", "run_name": "h"})
        created.raise_for_status()
        run_id = created.json()["run"]["info"]["run_id"]
        now = int(time.time() * 1000)
        for k in range(0, HISTORY_POINTS, 1000):
            metrics = [
                {"key": "mean_abs_m", "value": 0.5, "timestamp": now, "step": s}
                for s in range(k, k + 1000)
            ]
            client.post(
                f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics}
            ).raise_for_status()
    return run_id


async def measure(
    base: str,
    ids: list[str],
    history_id: str,
    concurrencies: list[int],
    rounds: int,
    requests: int,
    phase_time_s: float,
) -> dict[str, Any]:
    """The phases of api_load.measure, against MLflow's REST API."""
    rng = random.Random(11)
    out: dict[str, Any] = {}
    for concurrency in concurrencies:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
            phases = {
                "health": (lambda i: client.get("/health"), requests),
                "get_run": (
                    lambda i: client.get(f"{API}/runs/get", params={"run_id": rng.choice(ids)}),
                    requests,
                ),
                "search_runs": (lambda i: client.post(f"{API}/runs/search", json=SEARCH), requests),
                "create_run": (
                    lambda i: client.post(
                        f"{API}/runs/create",
                        json={"experiment_id": "0", "run_name": f"bench {i}"},
                    ),
                    requests // 2,
                ),
                "metric_history_10k": (
                    lambda i: client.get(
                        f"{API}/metrics/get-history",
                        params={
                            "run_id": history_id,
                            "metric_key": "mean_abs_m",
                            "max_results": HISTORY_POINTS,
                        },
                    ),
                    requests // 4,
                ),
            }
            loads = await run_phases(
                client, phases, concurrency=concurrency, rounds=rounds, phase_time_s=phase_time_s
            )
        merged = {name: merge_loads(runs) for name, runs in loads.items()}
        out[f"concurrency_{concurrency}"] = merged
    return out
