"""Submit to running: the time from POST /experiments returning to the experiment being `running`,
with an idle Redis-backed worker pool laid out as docker-compose.yml runs it.

Set-up (created and removed by this script): a fresh PostgreSQL database (alembic upgrade head),
a spare Redis database as the broker, `python -m api`, a run worker
`celery -A worker.app worker -Q celery -c 1` and a maintenance worker
`celery -A worker.app worker -Q silab.maintain -c 1 -B` (beat: dispatcher + reaper every
SILAB_DISPATCH_INTERVAL_S, default 5 s), SILAB_WORKER_SLOTS=1, SILAB_DEVICE=cpu.

Each submission (a d = 16, N = 8, 2-seed spec of 64 steps) is made alone: POST, then GET
/experiments/{id} every ~10 ms until it is no longer queued, then every 50 ms until it finishes,
then a pause so that the worker is idle again (worker_max_tasks_per_child=1 replaces the pool's
child after every run). The first submission is a warm-up and is not counted.

Reported per submission and as median / p90:
- submit_to_running_ms: POST returned -> a GET saw `running` (client clock; includes the ~10 ms
  poll interval and one GET),
- created_to_dispatched_ms: the API's commit -> its dispatch round marked the experiment sent
  (database columns created_at, dispatched_at; inside the POST),
- dispatched_to_started_ms: marked sent -> claimed by the worker's child (started_at): Redis
  delivery, the parent handing the message to its child, the claim UPDATE,
- received_to_claimed_ms: from the worker's log, the parent's "received" line -> the child's
  "claimed" line,
- started_to_finished_ms and its part outside the trainer (finished_at - started_at -
  wall_time_s): importing torch and the trainer in the fresh child, building the run, the final
  writes. A reference `python -c "import torch, trainer.train"` in a fresh process is timed too.
With max_tasks_per_child=1 the child that takes a run is forked after the previous run ended (the
parent, not torch, is what it inherits), so the fork is not on the submit -> running path but the
torch import is on every run's path after the claim.

    python bench/submit_to_running.py [--quick] [--submissions N] [--redis-db N]
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

import httpx
from api_load import SPEC
from common import parser as common_parser
from service_common import ROOT, emit, environment, percentile, stack

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
        got = re.search(r"Task silab\.run_experiment\[([0-9a-f-]+)\] received", message)
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


def main() -> None:

    parser = common_parser(__doc__, quick="3 submissions (< 1 min)")
    parser.add_argument("--submissions", type=int, default=None, help="default 10 (quick 3)")
    parser.add_argument("--redis-db", type=int, default=None)
    parser.add_argument(
        "--idle-s", type=float, default=1.0, help="pause after each run so the worker is idle again"
    )
    args = parser.parse_args()
    count = args.submissions or (3 if args.quick else 10)
    deadline = time.monotonic() + (100 if args.quick else 280)
    began = time.perf_counter()
    settings = {"SILAB_WORKER_SLOTS": "1"}
    records: list[dict[str, Any]] = []
    with stack(args.redis_db, **settings) as run:
        base = run.api()
        key = run.admin_key()
        maintain = run.worker("maintain", "silab.maintain", beat=True)
        gpu = run.worker("gpu0", "celery", beat=False)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for n in range(count + 1):  # the first one is a warm-up
                if time.monotonic() > deadline:
                    break
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
                records.append(
                    {
                        "experiment_id": experiment_id,
                        "warmup": n == 0,
                        "status": status,
                        "post_ms": (returned - sent) * 1000,
                        "submit_to_running_ms": (running_seen - returned) * 1000
                        if running_seen
                        else None,
                        "polls_until_running": polls,
                        "submit_to_finished_seen_ms": (finished_seen - returned) * 1000,
                    }
                )
                time.sleep(args.idle_s)
        from sqlalchemy import create_engine, text

        engine = create_engine(run.database.url)
        with engine.connect() as connection:
            rows = {
                row.id: row
                for row in connection.execute(
                    text(
                        "SELECT id, created_at, dispatched_at, started_at, finished_at, "
                        "wall_time_s FROM experiment"
                    )
                )
            }
        engine.dispose()
        from_log = log_times(gpu.text())
        maintain_alive = maintain.alive()
        gpu_log_tail = gpu.text()[-1500:]
    reference = torch_import_reference(1 if args.quick else 3)

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
    columns = [
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
    summary = {
        name: stats([r[name] for r in counted if r.get(name) is not None]) for name in columns
    }
    emit(
        {
            "benchmark": "submit_to_running",
            "description": "POST /experiments returned -> status running, idle Redis-backed worker "
            "pool in the docker-compose layout (run worker -Q celery -c 1, "
            "maintenance worker -Q silab.maintain -B), one submission at a time",
            "quick": args.quick,
            "setup": {
                "layout": "api (uvicorn, 1 process) + celery -Q celery -c 1 + celery -Q "
                "silab.maintain -c 1 -B",
                "database": "PostgreSQL (fresh database)",
                "broker": "Redis (spare database)",
                "service_settings": settings,
                "poll_interval_ms": 10,
                "idle_between_runs_s": args.idle_s,
                "spec": "d=16, N=8, 2 seeds, 64 reuse steps, 200 phase-2 samples, cpu",
                "submissions_counted": len(counted),
                "warmup": 1,
            },
            "summary": summary,
            "torch_import_reference_ms": stats(reference),
            "per_submission": records,
            "notes": [
                (
                    "the API's own dispatch round sends the message inside the POST (a free "
                    "slot), so beat's 5 s interval is not on this path; it would be if the broker "
                    "had been down"
                ),
                (
                    "running is set by the claim, before the child imports torch; the torch import "
                    "(fresh child per run, worker_max_tasks_per_child=1) is inside "
                    "outside_trainer_ms"
                ),
            ],
            "maintenance_worker_alive": maintain_alive,
            "worker_log_tail": gpu_log_tail
            if any(r["status"] != "completed" for r in records)
            else "",
            "wall_s": round(time.perf_counter() - began, 1),
            "environment": environment(),
        }
    )


if __name__ == "__main__":
    sys.exit(main())
