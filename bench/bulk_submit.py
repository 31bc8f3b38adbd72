"""Bulk submit: experiments stored per second by POST /experiments:batch (10^3 and 10^4 items a
request) against one POST /experiments per experiment at concurrency 8, on PostgreSQL with 10^5
experiments already in the table, in one run (issue 10's goal: >= 5,000 experiments/s).

Set-up (created and removed by this script): bench/api_load.py's fresh PostgreSQL database seeded
with `--rows` experiments, a spare Redis database as the broker (the doorbell; no worker runs),
`python -m api` (1 process), rate limit off and the queued limit raised. The batch sizes take
turns within each repeat; every item is api_load's d = 16 spec with its own name. Experiments/s
is items over the request's wall time (send to the whole answer read).

    python bench/bulk_submit.py [--quick] [--rows N] [--repeats N] [--redis-db N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

import httpx
from api_load import SPEC, seed_rows
from common import parser as common_parser
from service_common import (
    emit,
    environment,
    load_now,
    merge_loads,
    run_load,
    stack,
    summary_ms,
)

GOAL_PER_S = 5000.0


def batch_body(size: int, tag: str) -> dict[str, Any]:
    return {"items": [{"spec": SPEC, "name": f"bulk {i}", "tags": [tag]} for i in range(size)]}


async def singles(base: str, key: str, total: int) -> dict[str, Any]:
    """POST /experiments one experiment a request, 8 in flight: the per-request baseline."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:

        def submit(i: int) -> Any:
            return client.post("/experiments", json={"spec": SPEC, "name": f"single {i}"})

        await run_load(client, submit, total=8, concurrency=8, time_limit_s=30)  # warm-up
        load = await run_load(client, submit, total=total, concurrency=8, time_limit_s=60)
    return merge_loads([load])


def in_process(url: str, key: str, size: int, repeats: int) -> dict[str, Any]:
    """Where one batch's time goes, without HTTP: the JSON parse, the validation (what FastAPI
    does with the body) and the service (limits, columns, the COPY of the rows, commit)."""
    import json
    import tempfile
    from pathlib import Path

    from api import accounts
    from api.config import ApiSettings
    from api.schemas import ExperimentBatchCreate
    from api.services import batches
    from api.services.context import Context
    from db.config import DbSettings
    from db.session import make_engine, make_sessionmaker

    engine = make_engine(DbSettings(database_url=url))
    parts: dict[str, list[float]] = {"parse": [], "validate": [], "service": [], "total": []}
    try:
        sessions = make_sessionmaker(engine)
        with sessions() as session:
            principal = accounts.authenticate(key, session=session)
        assert principal is not None
        settings = ApiSettings(
            data_dir=Path(tempfile.mkdtemp()), broker_url=None, default_max_queued=None
        )
        for r in range(repeats):
            raw = json.dumps(batch_body(size, f"in-process-{r}")).encode()
            began = time.perf_counter()
            parsed = json.loads(raw)
            parsed_at = time.perf_counter()
            body = ExperimentBatchCreate.model_validate(parsed)
            validated_at = time.perf_counter()
            with sessions() as session:
                ctx = Context(
                    session=session, principal=principal, settings=settings, dispatch=lambda: None
                )
                batches.submit_batch(body, ctx=ctx)
            done = time.perf_counter()
            parts["parse"].append(parsed_at - began)
            parts["validate"].append(validated_at - parsed_at)
            parts["service"].append(done - validated_at)
            parts["total"].append(done - began)
    finally:
        engine.dispose()
    out: dict[str, Any] = {name: summary_ms(values) for name, values in parts.items()}
    out["experiments_per_s"] = round(size / statistics.median(parts["total"]))
    return out


def main() -> None:
    parser = common_parser(__doc__, quick="10^4 rows, batches of 10^3 only, 2 repeats")
    parser.add_argument("--rows", type=int, default=None, help="default 10^5 (quick 10^4)")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (quick 2)")
    parser.add_argument("--redis-db", type=int, default=None)
    args = parser.parse_args()
    rows = args.rows or (10_000 if args.quick else 100_000)
    repeats = args.repeats or (2 if args.quick else 3)
    sizes = [1000] if args.quick else [1000, 10_000]
    settings = {"SILAB_RATE_LIMIT_PER_S": "0", "SILAB_DEFAULT_MAX_QUEUED": "100000000"}
    began = time.perf_counter()
    with stack(args.redis_db, **settings) as run:
        seeded = seed_rows(run.database.url, rows)
        seeded.pop("ids")
        base = run.api()
        key = run.admin_key()
        times: dict[int, list[float]] = {size: [] for size in sizes}
        statuses: dict[int, list[int]] = {size: [] for size in sizes}
        # The same submits before the batches, while this account holds almost nothing: a
        # submit's cost must not grow with what the account holds (the trace quota's counter).
        single_few = asyncio.run(singles(base, key, 200))
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
            client.post("/experiments:batch", json=batch_body(10, "warm-up"), timeout=60)
            for r in range(repeats):
                for size in sizes:
                    body = batch_body(size, f"bulk-{size}-{r}")
                    start = time.perf_counter()
                    response = client.post("/experiments:batch", json=body, timeout=300)
                    _ = response.content
                    times[size].append(time.perf_counter() - start)
                    statuses[size].append(response.status_code)
            health = []
            for _ in range(20):
                start = time.perf_counter()
                client.get("/health")
                health.append(time.perf_counter() - start)
        single = asyncio.run(singles(base, key, 200))
        breakdown = in_process(run.database.url, key, max(sizes), repeats)
    results: dict[str, Any] = {}
    for size in sizes:
        median_s = statistics.median(times[size])
        rate = size / median_s
        ok = all(code == 200 or code == 201 for code in statuses[size])
        figure = results[f"batch_{size}"] = {
            **summary_ms(times[size]),
            "statuses": statuses[size],
            "experiments_per_s": round(rate),
            "meets_goal": rate >= GOAL_PER_S and ok,
        }
        if not figure["meets_goal"]:
            part = {name: breakdown[name]["median_ms"] for name in ("parse", "validate", "service")}
            figure["miss"] = (
                f"{rate:.0f}/s against {GOAL_PER_S:.0f}/s: {GOAL_PER_S / rate:.2f}x short"
            )
            figure["why"] = (
                f"in process, a batch of {max(sizes)} takes {part['parse']:g} ms to parse, "
                f"{part['validate']:g} ms to validate and {part['service']:g} ms in the service "
                f"(medians, in_process_breakdown); the rest is HTTP, the response and waiting for "
                f"a CPU: one uvicorn process, PostgreSQL and this client share the 2 cores (load "
                f"average {load_now()} at the end)"
            )
    single_rate = single["requests_per_s"] or 0.0
    for size in sizes:
        figure = results[f"batch_{size}"]
        figure["ratio_to_single_submits"] = (
            round(figure["experiments_per_s"] / single_rate, 1) if single_rate else None
        )
    emit(
        {
            "benchmark": "bulk_submit",
            "description": "POST /experiments:batch (10^3, 10^4 items) experiments/s vs one POST "
            "/experiments per experiment at concurrency 8 (after the batches: the account then "
            "holds 3.3*10^4 queued; and before them), PostgreSQL with 10^5 rows",
            "quick": args.quick,
            "goal_experiments_per_s": GOAL_PER_S,
            "setup": {
                "seeded": seeded,
                "service_settings": settings,
                "repeats": repeats,
                "api": "python -m api, 1 process; no worker",
            },
            "results": results,
            "single_submits_concurrency_8": single,
            "single_submits_before_the_batches": single_few,
            "single_submit_median_ratio_after_to_before": (
                round(single["median_ms"] / single_few["median_ms"], 2)
                if single_few["median_ms"]
                else None
            ),
            "in_process_breakdown": {"batch_size": max(sizes), **breakdown},
            "health_single_client": summary_ms(health),
            "wall_s": round(time.perf_counter() - began, 1),
            "environment": environment(),
        }
    )


if __name__ == "__main__":
    sys.exit(main())
