"""Submit to running: the time from POST /experiments returning to the experiment being `running`,
with a warm idle worker (issue 9 and 10: p50 < 100 ms, p90 < 250 ms), on two layouts in one run:

- postgres_redis (docker-compose's): a fresh PostgreSQL database (alembic upgrade head), a spare
  Redis database as the broker, `python -m api`, a run worker
  `celery -A worker.app worker -Q celery -c 1` and a maintenance worker
  `celery -A worker.app worker -Q silab.maintain -c 1 -B`;
- embedded (scripts/demo's): an SQLite database and the SQLite Celery broker in a temporary data
  folder, `python -m api` and one `celery -A worker.app worker -B -c 1`
  on both queues.
Both with SILAB_WORKER_SLOTS=1, SILAB_DEVICE=cpu and otherwise default settings (the run child is
warm: it keeps torch across groups, worker_max_tasks_per_child = SILAB_WORKER_RECYCLE_GROUPS).

Each submission (a d = 16, N = 8, 2-seed spec of 64 steps) is made alone: POST, then GET
/experiments/{id} every ~10 ms until it is no longer queued, then every 50 ms until it finishes,
then a pause so that the worker is idle again. The first submission of each layout is a warm-up
(the run child imports torch then) and is not counted.

Reported per submission and as median / p90:
- submit_to_running_ms: POST returned -> a GET saw `running` (client clock; includes the ~10 ms
  poll interval and one GET),
- created_to_dispatched_ms: the API's commit -> the dispatch round marked the experiment sent
  (database columns created_at, dispatched_at): the POST rings the doorbell (a silab.maintain
  message), the maintenance worker receives it and runs the round,
- dispatched_to_started_ms: marked sent -> claimed by the worker's child (started_at): Redis
  delivery, the parent handing the message to its child, the claim UPDATE,
- received_to_claimed_ms: from the worker's log, the parent's "received" line -> the child's
  "claimed" line,
- started_to_finished_ms and its part outside the trainer (finished_at - started_at -
  wall_time_s): importing torch and the trainer in the fresh child, building the run, the final
  writes. A reference `python -c "import torch, trainer.train"` in a fresh process is timed too:
what a fresh process per run (before warm workers) paid after every claim.

    python bench/submit_to_running.py [--quick] [--submissions N] [--layout ...] [--redis-db N]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

import httpx
from api_load import SPEC
from common import parser as common_parser
from service_common import ROOT, Stack, embedded_stack, emit, environment, percentile, stack

LOG_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): [A-Z]+/[^\]]*\] (.*)$")


def stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    import statistics

    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 2),
        "p90_ms": round(percentile(values, 90), 2),
        "min_ms": round(min(values), 2),
        "max_ms": round(max(values), 2),
    }


def log_times(text: str) -> dict[int, dict[str, datetime]]:
    """experiment id -> {'received': t, 'claimed': t} from a Celery worker log."""
    out: dict[int, dict[str, datetime]] = {}
    received_task: dict[str, datetime] = {}
    task_to_id: dict[str, int] = {}
    for line in text.splitlines():
        match = LOG_LINE.match(line)
        if not match:
            continue
        # naive local log time: only ever subtracted from another line of the same log
        when = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")  # noqa: DTZ007
        message = match.group(2)
        got = re.search(r"Task silab\.run_(?:experiment|group)\[([0-9a-f-]+)\] received", message)
        if got:
            received_task[got.group(1)] = when
            continue
        claimed = re.search(r"\[([0-9a-f-]+)\].*experiment (\d+): attempt \d+ claimed", message)
        if claimed is None:
            claimed = re.search(r"experiment (\d+): attempt \d+ claimed", message)
            if claimed:
                out.setdefault(int(claimed.group(1)), {})["claimed"] = when
            continue
        task_to_id[claimed.group(1)] = int(claimed.group(2))
        out.setdefault(int(claimed.group(2)), {})["claimed"] = when
    for task, when in received_task.items():
        if task in task_to_id:
            out.setdefault(task_to_id[task], {})["received"] = when
    # Without task ids in the claim line: pair the n-th received with the n-th claimed.
    if not task_to_id:
        claimed_ids = sorted(out)
        for experiment_id, when in zip(claimed_ids, sorted(received_task.values()), strict=False):
            out[experiment_id]["received"] = when
    return out


def torch_import_reference(repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import torch, trainer.train"],
            cwd=ROOT,
            check=True,
            timeout=120,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        )
        times.append((time.perf_counter() - began) * 1000)
    return times


GOAL_P50_MS = 100.0
GOAL_P90_MS = 250.0
SETTINGS = {"SILAB_WORKER_SLOTS": "1"}
# What bounds a layout that misses, measured (issue 9): the breakdown columns say where its time
# goes, and these say why.
WHY_SLOW = {
    "embedded": "every hop is a commit to an SQLite file (the doorbell, the dispatch round's "
    "UPDATE, the group message, the claim) and each broker hop waits for a poll of up to "
    "SILAB_BROKER_POLL_S (50 ms); a 20 ms poll gained 12 ms of the median on 2026-12-01, so the "
    "commits, not the poll, are what is left",
    "postgres_redis": "the load on the 2 shared cores: compare created_to_dispatched_ms and "
    "dispatched_to_started_ms with the load average",
}
COLUMNS = [
    "post_ms",
    "submit_to_running_ms",
    "created_to_dispatched_ms",
    "dispatched_to_started_ms",
    "received_to_claimed_ms",
    "started_to_finished_ms",
    "trainer_wall_ms",
    "outside_trainer_ms",
    "submit_to_finished_seen_ms",
]


def submit_one(client: httpx.Client, n: int) -> dict[str, Any]:
    sent = time.perf_counter()
    response = client.post("/experiments", json={"spec": SPEC, "name": f"s2r {n}"})
    returned = time.perf_counter()
    response.raise_for_status()
    experiment_id = response.json()["id"]
    running_seen = None
    status = response.json()["status"]
    polls = 0
    limit = time.monotonic() + 60
    while time.monotonic() < limit:
        status = client.get(f"/experiments/{experiment_id}").json()["status"]
        polls += 1
        if status != "queued":
            running_seen = time.perf_counter()
            break
        time.sleep(0.01)
    limit = time.monotonic() + 120
    while status in ("queued", "running") and time.monotonic() < limit:
        time.sleep(0.05)
        status = client.get(f"/experiments/{experiment_id}").json()["status"]
    finished_seen = time.perf_counter()
    return {
        "experiment_id": experiment_id,
        "warmup": n == 0,
        "status": status,
        "post_ms": (returned - sent) * 1000,
        "submit_to_running_ms": (running_seen - returned) * 1000 if running_seen else None,
        "polls_until_running": polls,
        "submit_to_finished_seen_ms": (finished_seen - returned) * 1000,
    }


def database_times(url: str) -> dict[int, Any]:
    """experiment id -> its row's times (through the models' types: aware datetimes on both
    databases)."""
    from sqlalchemy import select

    from db.config import DbSettings
    from db.models import Experiment
    from db.session import make_engine

    engine = make_engine(DbSettings(database_url=url))
    try:
        with engine.connect() as connection:
            columns = (
                Experiment.id,
                Experiment.created_at,
                Experiment.dispatched_at,
                Experiment.started_at,
                Experiment.finished_at,
                Experiment.wall_time_s,
            )
            return {row.id: row for row in connection.execute(select(*columns))}
    finally:
        engine.dispose()


def measure(run: Stack, layout: str, count: int, idle_s: float, budget_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + budget_s
    load_before = os.getloadavg()
    base = run.api()
    key = run.admin_key()
    if layout == "embedded":
        worker = run.worker("worker", "celery,silab.maintain", beat=True)
    else:
        run.worker("maintain", "silab.maintain", beat=True)
        worker = run.worker("gpu0", "celery", beat=False)
    records: list[dict[str, Any]] = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        for n in range(count + 1):  # the first one is a warm-up
            if time.monotonic() > deadline:
                break
            records.append(submit_one(c, n))
            time.sleep(idle_s)
    rows = database_times(run.database.url)
    from_log = log_times(worker.text())

    def ms(a: datetime | None, b: datetime | None) -> float | None:
        return (b - a).total_seconds() * 1000 if a and b else None

    for record in records:
        row = rows.get(record["experiment_id"])
        if row is None:
            continue
        record["created_to_dispatched_ms"] = ms(row.created_at, row.dispatched_at)
        record["dispatched_to_started_ms"] = ms(row.dispatched_at, row.started_at)
        record["started_to_finished_ms"] = ms(row.started_at, row.finished_at)
        record["trainer_wall_ms"] = row.wall_time_s * 1000 if row.wall_time_s else None
        if record["started_to_finished_ms"] and record["trainer_wall_ms"]:
            record["outside_trainer_ms"] = (
                record["started_to_finished_ms"] - record["trainer_wall_ms"]
            )
        logged = from_log.get(record["experiment_id"], {})
        record["received_to_claimed_ms"] = ms(logged.get("received"), logged.get("claimed"))
        for name, value in list(record.items()):
            if name.endswith("_ms") and value is not None:
                record[name] = round(value, 2)
    counted = [r for r in records if not r["warmup"]]
    summary = {n: stats([r[n] for r in counted if r.get(n) is not None]) for n in COLUMNS}
    running = summary["submit_to_running_ms"]
    goals = {
        "p50_ms": GOAL_P50_MS,
        "p90_ms": GOAL_P90_MS,
        "meets_p50": bool(running.get("n")) and running["median_ms"] < GOAL_P50_MS,
        "meets_p90": bool(running.get("n")) and running["p90_ms"] < GOAL_P90_MS,
    }
    if running.get("n") and not (goals["meets_p50"] and goals["meets_p90"]):
        goals["miss_p50_ms"] = round(max(0.0, running["median_ms"] - GOAL_P50_MS), 1)
        goals["miss_p90_ms"] = round(max(0.0, running["p90_ms"] - GOAL_P90_MS), 1)
        goals["why"] = WHY_SLOW[layout]
    return {
        "submissions_counted": len(counted),
        "summary": summary,
        "goals": goals,
        "per_submission": records,
        "load_average_1_5_15_min_before": [round(v, 2) for v in load_before],
        "load_average_1_5_15_min_after": [round(v, 2) for v in os.getloadavg()],
        "worker_log_tail": worker.text()[-1500:]
        if any(r["status"] != "completed" for r in records)
        else "",
    }


LAYOUTS = {
    "postgres_redis": "PostgreSQL (fresh database) + Redis (spare database); api (uvicorn, 1 "
    "process) + celery -Q celery -c 1 + celery -Q silab.maintain -c 1 -B",
    "embedded": "SQLite database + SQLite Celery broker in a temporary data folder; api (uvicorn, "
    "1 process) + one celery -B -c 1 on both queues (scripts/demo)",
}


def main() -> None:
    parser = common_parser(__doc__, quick="3 submissions per layout")
    parser.add_argument("--submissions", type=int, default=None, help="default 20 (quick 3)")
    parser.add_argument("--layout", nargs="+", choices=list(LAYOUTS), default=list(LAYOUTS))
    parser.add_argument("--redis-db", type=int, default=None)
    parser.add_argument(
        "--idle-s", type=float, default=1.0, help="pause after each run so the worker is idle again"
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="SILAB_X=VALUE",
        help="a service setting beside SILAB_WORKER_SLOTS=1 (repeatable)",
    )
    args = parser.parse_args()
    settings = SETTINGS | dict(item.split("=", 1) for item in args.setting)
    count = args.submissions or (3 if args.quick else 20)
    budget_s = 100 if args.quick else 300
    began = time.perf_counter()
    layouts: dict[str, Any] = {}
    for layout in args.layout:
        opened = (
            embedded_stack(**settings) if layout == "embedded" else stack(args.redis_db, **settings)
        )
        with opened as run:
            layouts[layout] = {"setup": LAYOUTS[layout]} | measure(
                run, layout, count, args.idle_s, budget_s
            )
    reference = torch_import_reference(1 if args.quick else 3)
    emit(
        {
            "benchmark": "submit_to_running",
            "description": "POST /experiments returned -> status running with a warm idle worker, "
            "one submission at a time, on PostgreSQL + Redis and on the embedded default",
            "quick": args.quick,
            "setup": {
                "service_settings": settings,
                "poll_interval_ms": 10,
                "idle_between_runs_s": args.idle_s,
                "spec": "d=16, N=8, 2 seeds, 64 reuse steps, 200 phase-2 samples, cpu",
                "warmup": 1,
            },
            "layouts": layouts,
            "torch_import_reference_ms": stats(reference),
            "notes": [
                "the POST only rings the doorbell (a silab.maintain message); the maintenance "
                "worker's round marks the experiment dispatched and sends its group: "
                "created_to_dispatched_ms",
                "running is set by the claim in the warm run child; torch is imported there "
                "once (the warm-up submission), not per run",
                "submit_to_running_ms includes up to one 10 ms poll interval and one GET",
            ],
            "wall_s": round(time.perf_counter() - began, 1),
            "environment": environment(),
        }
    )


if __name__ == "__main__":
    sys.exit(main())
