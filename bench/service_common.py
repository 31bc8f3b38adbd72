"""Shared helpers of the service benchmarks (api_load, submit_to_running, trace_fetch).

Each benchmark creates its own PostgreSQL database (schema by `alembic upgrade head`), starts
real `uvicorn` / `celery` processes on loopback with a clean environment (each in its own process
group, as tests/e2e/e2e_helpers.py does), and always kills them and drops the database at the end.
Every wait and every request loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from worker.launch import celery_argv  # noqa: E402 (after the sys.path set-up above)

# The load average before this benchmark started anything (its own processes load the CPUs too).
LOAD_AT_START = os.getloadavg()
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_SERVER = "redis://127.0.0.1:6379"


# ------------------------------------------------------------------------------------ numbers
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"n": 0}
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p90_ms": round(percentile(ms, 90), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


def environment(**extra: Any) -> dict[str, Any]:
    load = os.getloadavg()
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        # before the run: other jobs on the machine; at the end: this run's own processes too
        "load_average_1_5_15_min_at_start": [round(v, 2) for v in LOAD_AT_START],
        "load_average_1_5_15_min": [round(v, 2) for v in load],
        # above 1.5 before the run on this 2-core machine: other jobs contended the timings
        "cpu_shared": LOAD_AT_START[0] > 1.5,
    }
    note = load_note(max(LOAD_AT_START[0], load[0]), os.cpu_count() or 1)
    if note:
        info["load_note"] = note
    with contextlib.suppress(Exception):
        import sqlalchemy

        info["sqlalchemy"] = sqlalchemy.__version__
    with contextlib.suppress(Exception), create_engine(POSTGRES_ADMIN_URL).connect() as connection:
        info["postgresql"] = connection.execute(text("SHOW server_version")).scalar()
    info.update(extra)
    return info


def load_note(load: float, cpus: int) -> str | None:
    """What a 1-minute load this high does to the figures (None below 1.5 per core)."""
    if load <= 1.5 * cpus:
        return None
    return (
        f"distorted by load: the 1-minute load reached {load:.1f} on {cpus} cores (other jobs), "
        "so every latency here includes waiting for a CPU and the absolute figures are inflated "
        "several-fold; read the ratios measured in the same run, and note that /health queues "
        "too, which makes ratios to it look better than on an idle machine"
    )


def judge(value: float, goal: str, why: str) -> dict[str, Any]:
    """One goal's verdict: `goal` is ">= 0.5" or "<= 3"; a miss says by how much (the value
    over the bound, and the factor) and `why`, the measured reason the caller gives."""
    sign, bound_text = goal.split()
    bound = float(bound_text)
    met = value >= bound if sign == ">=" else value <= bound
    out: dict[str, Any] = {"goal": goal, "value": value, "meets_goal": met}
    if not met:
        factor = bound / value if sign == ">=" and value else value / bound
        out["miss"] = f"{value:g} against {goal}: {factor:.2f}x off"
        out["why"] = why
    return out


def load_now() -> str:
    """The 1/5/15-minute load average, for a `why`."""
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


# ------------------------------------------------------------------------------------ database
class Database:
    """A fresh PostgreSQL database `silab_bench_<hex>`, migrated by `alembic upgrade head`,
    dropped (WITH FORCE) by `drop()`."""

    def __init__(self, admin_url: str = POSTGRES_ADMIN_URL) -> None:
        self.admin_url = make_url(admin_url)
        self.name = f"silab_bench_{secrets.token_hex(4)}"
        self.url = self.admin_url.set(database=self.name).render_as_string(hide_password=False)
        self._admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))

    def migrate(self, env: dict[str, str]) -> None:
        subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env={**env, "SILAB_DATABASE_URL": self.url},
            check=True,
            capture_output=True,
            timeout=120,
        )

    def drop(self) -> None:
        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()


class EmbeddedDatabase:
    """The embedded default's SQLite file in the run's data folder (no server): migrated like
    Database, removed with the folder."""

    name = "embedded SQLite"

    def __init__(self, data_dir: Path) -> None:
        self.url = f"sqlite:///{(data_dir / 'silab.db').resolve()}"

    def migrate(self, env: dict[str, str]) -> None:
        Database.migrate(self, env)  # type: ignore[arg-type]  # same command, another URL

    def drop(self) -> None:
        """Nothing to drop: the file goes with the temporary folder."""


def spare_redis_db(choice: int | None) -> int:
    """A Redis logical database for this run: `choice`, else database 0 when it is empty (the test
    suite picks its database in 1..15, see tests/conftest.py), else an empty one in 1..15."""
    import redis

    if choice is not None:
        return choice
    for n in range(16):
        client = redis.Redis.from_url(f"{REDIS_SERVER}/{n}")
        try:
            if client.dbsize() == 0:
                return n
        finally:
            client.close()
    raise SystemExit("no empty Redis database in 0..15; pass --redis-db")


def clean_redis(db: int, before: set[bytes]) -> int:
    """Delete the keys this run created in Redis database `db`; returns how many."""
    import redis

    client = redis.Redis.from_url(f"{REDIS_SERVER}/{db}")
    try:
        new = [k for k in client.keys("*") if k not in before]
        if new:
            client.delete(*new)
        return len(new)
    finally:
        client.close()


def redis_keys(db: int) -> set[bytes]:
    import redis

    client = redis.Redis.from_url(f"{REDIS_SERVER}/{db}")
    try:
        return set(client.keys("*"))
    finally:
        client.close()


# ------------------------------------------------------------------------------------ processes
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGTERM the whole process group, SIGKILL after 10 s."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=10)
        # the group's children (celery's pool, beat) may outlive the leader
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)


@dataclass
class Stack:
    """A temporary folder, a fresh database, a Redis database (None: the embedded default's
    SQLite broker in the data folder), and the processes of one run."""

    tmp: Path
    database: Database | EmbeddedDatabase
    redis_db: int | None
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)
    redis_before: set[bytes] = field(default_factory=set)

    @property
    def broker_url(self) -> str | None:
        return None if self.redis_db is None else f"{REDIS_SERVER}/{self.redis_db}"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.tmp),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1",
            "SILAB_DATA_DIR": str(self.tmp / "data"),
            "SILAB_DATABASE_URL": self.database.url,
            "SILAB_DEVICE": "cpu",
            **self.extra_env,
        }
        if self.broker_url:  # else the embedded default: an SQLite broker in the data folder
            env["SILAB_BROKER_URL"] = self.broker_url
        env.update(overrides)
        return env

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        log = self.tmp / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def api(self, *, workers: int = 1, timeout: float = 60) -> str:
        """`python -m api` on a free loopback port; returns its base URL once /health
        answers (the first start writes <data_dir>/admin.key)."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [
            sys.executable,
            "-m",
            "api",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        if workers > 1:
            argv += ["--workers", str(workers)]
        proc = self.start("api", argv, self.env())

        def up() -> bool:
            if not proc.alive():
                raise RuntimeError(f"api exited:\n{proc.text()[-3000:]}")
            try:
                return httpx.get(f"{url}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, timeout, "the API to answer /health", interval=0.2)
        return url

    def admin_key(self) -> str:
        path = self.tmp / "data" / "admin.key"
        return wait_until(
            lambda: path.exists() and path.read_text().strip(), 30, "admin.key"
        ).strip()

    def worker(self, name: str, queue: str, *, beat: bool, timeout: float = 60) -> Proc:
        argv = celery_argv(
            node=f"{name}-{secrets.token_hex(3)}@127.0.0.1",
            queue=queue,
            beat_schedule=self.tmp / f"{name}-beat-schedule" if beat else None,
        )
        proc = self.start(name, argv, self.env())
        wait_until(
            lambda: not proc.alive() or " ready." in proc.text(),
            timeout,
            f"{name} to be ready",
            interval=0.2,
        )
        if not proc.alive():
            raise RuntimeError(f"{name} exited:\n{proc.text()[-3000:]}")
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.kill()


@contextlib.contextmanager
def stack(redis_db: int | None = None, **extra_env: str) -> Iterator[Stack]:
    """A Stack that is always torn down: processes killed (whole groups), database dropped,
    the Redis keys this run created deleted, the temporary folder removed."""
    db = spare_redis_db(redis_db)  # may refuse: before anything is created
    tmp = Path(tempfile.mkdtemp(prefix="silab-bench-"))
    (tmp / "data").mkdir()
    try:
        database = Database()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result = Stack(tmp, database, db, extra_env=dict(extra_env), redis_before=redis_keys(db))
    try:
        database.migrate(result.env())
        yield result
    finally:
        try:
            result.close()
        finally:
            try:
                database.drop()
            finally:
                with contextlib.suppress(Exception):
                    clean_redis(db, result.redis_before)
                shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def embedded_stack(**extra_env: str) -> Iterator[Stack]:
    """A Stack on the embedded default (SQLite database and SQLite broker in a temporary data
    folder, what `scripts/demo` runs): no server is touched; always torn down."""
    tmp = Path(tempfile.mkdtemp(prefix="silab-bench-"))
    (tmp / "data").mkdir()
    result = Stack(tmp, EmbeddedDatabase(tmp / "data"), None, extra_env=dict(extra_env))
    try:
        result.database.migrate(result.env())
        yield result
    finally:
        try:
            result.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------ load
@dataclass
class LoadResult:
    latencies: list[float]
    statuses: dict[int, int]
    wall_s: float
    stopped_by_time: bool

    def report(self) -> dict[str, Any]:
        ok = sum(n for code, n in self.statuses.items() if 200 <= code < 300)
        return {
            **summary_ms(self.latencies),
            "requests_per_s": round(len(self.latencies) / self.wall_s, 1) if self.wall_s else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "ok": ok,
            "wall_s": round(self.wall_s, 3),
            "stopped_by_time_limit": self.stopped_by_time,
        }


async def run_load(
    client: httpx.AsyncClient,
    request: Callable[[int], Awaitable[httpx.Response]],
    *,
    total: int,
    concurrency: int,
    time_limit_s: float,
) -> LoadResult:
    """`total` requests (at most; fewer when `time_limit_s` runs out), `concurrency` in flight.
    `request(i)` makes the i-th request. Each latency is from send to the full body read."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(total))
    deadline = time.perf_counter() + time_limit_s
    stopped = False

    async def loop() -> None:
        nonlocal stopped
        for i in counter:
            if time.perf_counter() > deadline:
                stopped = True
                return
            began = time.perf_counter()
            try:
                response = await request(i)
                code = response.status_code
            except httpx.HTTPError:
                code = -1
            latencies.append(time.perf_counter() - began)
            statuses[code] = statuses.get(code, 0) + 1

    began = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return LoadResult(latencies, statuses, time.perf_counter() - began, stopped)


# A load phase: how to make its i-th request, and how many requests a round makes.
Phase = tuple[Callable[[int], Awaitable[httpx.Response]], int]


async def run_phases(
    client: httpx.AsyncClient,
    phases: dict[str, Phase],
    *,
    concurrency: int,
    rounds: int,
    phase_time_s: float,
) -> dict[str, list[LoadResult]]:
    """A warm-up of `concurrency` requests per phase (connections open, caches and first-request
    costs paid), then `rounds` rounds in which the phases take turns, so that a change in the
    machine's load falls on every phase alike. Each phase's rounds, for `merge_loads`."""
    for request, _ in phases.values():
        await run_load(client, request, total=concurrency, concurrency=concurrency, time_limit_s=10)
    loads: dict[str, list[LoadResult]] = {name: [] for name in phases}
    for _ in range(rounds):
        for name, (request, total) in phases.items():
            loads[name].append(
                await run_load(
                    client, request, total=total, concurrency=concurrency, time_limit_s=phase_time_s
                )
            )
    return loads


def merge_loads(loads: list[LoadResult]) -> dict[str, Any]:
    """One phase's rounds as one figure: latencies pooled, throughput over the summed wall."""
    latencies = [x for load in loads for x in load.latencies]
    wall = sum(load.wall_s for load in loads)
    statuses: dict[str, int] = {}
    for load in loads:
        for code, n in load.statuses.items():
            statuses[str(code)] = statuses.get(str(code), 0) + n
    return {
        **summary_ms(latencies),
        "requests_per_s": round(len(latencies) / wall, 1) if wall else None,
        "statuses": statuses,
        "stopped_by_time_limit": any(x.stopped_by_time for x in loads),
    }


def emit(document: dict[str, Any]) -> None:
    import json

    print(json.dumps(document, indent=1))
