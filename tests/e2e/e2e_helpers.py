"""End-to-end helpers: real `celery -A worker.app worker -B` and `python -m api`
processes on loopback, started with a clean environment plus SILAB_* settings, each in its own
process group, and always killed (the whole group) at teardown.

Every wait is bounded; a failure shows the tail of each process's log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db import traces
from db.config import DbSettings
from db.models import Checkpoint, Experiment
from db.session import make_engine, make_sessionmaker
from worker.launch import celery_argv

ROOT = Path(__file__).resolve().parents[2]
# How long a process may take to be ready (imports, connecting): polled, so a wide budget costs
# nothing when it is quick; on the loaded 2-core machine a start took tens of seconds.
START_BUDGET_S = 180.0
# Settings every e2e process gets: short leases and intervals, so a dead worker is noticed in
# seconds, and one thread per process on this 2-core machine. The lease is 20 heartbeats: at
# load 20 a live worker's heartbeats were late by more than a 3 s lease, and it lost its runs.
FAST = {
    "SILAB_LEASE_SECONDS": "10",
    "SILAB_HEARTBEAT_SECONDS": "0.5",
    "SILAB_CHECKPOINT_SECONDS": "0.5",
    "SILAB_DISPATCH_INTERVAL_S": "1",
    "SILAB_RESEND_AFTER_S": "600",
    "SILAB_DEVICE": "cpu",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    diagnose: Callable[[], str] = lambda: "",
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{diagnose()}")
        time.sleep(0.1)


def parallel(calls: int, call: Callable[[int], Any]) -> list[Any]:
    """`call(i)` from `calls` threads released together by a barrier; their results in order."""
    barrier = threading.Barrier(calls)

    def run(i: int) -> Any:
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(calls) as pool:
        return list(pool.map(run, range(calls)))


# Words of log lines that explain a failure.
EXPLAINING = (
    "claimed",
    "resuming",
    "lost its lease",
    "failed",
    "rror",
    "Traceback",
    'File "',
    "unreachable",
    "reaper",
    "completed",
    "not claimed",
    "database",
    "dispatched': [",
)


def _explains(line: str) -> bool:
    if "silab.maintain[" in line and ("Received" in line or "'dispatched': []" in line):
        return False  # a beat tick with nothing to report
    return any(word in line for word in EXPLAINING)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    node: str = ""  # a worker's Celery node name, as experiment.worker shows it

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def explaining(self, lines: int = 60) -> str:
        """The last lines that explain a failure: claims, resumes, lost leases, errors and
        tracebacks, never beat ticks (a tail of 40 lines was all ticks)."""
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        wanted = [line for line in text.splitlines() if _explains(line)]
        return "\n".join(wanted[-lines:])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (the worker's pool children and beat too)."""
        if self.popen.returncode is not None and sig != signal.SIGKILL:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


@dataclass
class Stack:
    """The processes of one test and the settings they share."""

    tmp: Path
    database_url: str
    broker_url: str
    procs: list[Proc] = field(default_factory=list)
    _sessions: sessionmaker[Session] | None = None

    # ------------------------------------------------------------------------------ processes
    def env(self, **overrides: str) -> dict[str, str]:
        """A clean environment: no SILAB_* or CELERY_* of the caller leaks in."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.tmp),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1",
            "SILAB_DATA_DIR": str(self.tmp / "data"),
            "SILAB_DATABASE_URL": self.database_url,
            "SILAB_BROKER_URL": self.broker_url,
            **FAST,
        }
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

    def worker(
        self,
        name: str = "worker",
        *,
        timeout: float = START_BUDGET_S,
        queue: str | None = None,
        beat: bool = True,
        **env: str,
    ) -> Proc:
        """`celery -A worker.app worker -B -c 1` (beat embedded), ready to consume.

        `queue` restricts it to one queue, as docker-compose.yml runs the pool: the GPU workers
        with `-Q celery` and no beat, the maintenance worker with `-Q silab.maintain -B`."""
        node = f"{name}-{uuid.uuid4().hex[:6]}@127.0.0.1"
        argv = celery_argv(
            node=node,
            queue=queue,
            beat_schedule=self.tmp / f"{name}-beat-schedule" if beat else None,
        )
        proc = self.start(name, argv, self.env(**env))
        proc.node = node
        wait_until(
            lambda: not proc.alive() or " ready." in proc.tail(200),
            timeout,
            f"{name} to be ready",
            self.diagnose,
        )
        assert proc.alive(), f"{name} exited:\n{proc.tail()}"
        return proc

    def api(
        self, *, timeout: float = START_BUDGET_S, workers: int = 1, wait: bool = True, **env: str
    ) -> str:
        """`python -m api` (with `workers` uvicorn processes) on a free loopback port; returns
        its base URL, once it answers /health unless `wait` is False (then `wait_api`)."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "api", "--port", str(port), "--log-level", "warning"]
        self.start(f"api-{port}", [*argv, "--workers", str(workers)], self.env(**env))
        if wait:
            self.wait_api(url, timeout)
        return url

    def wait_api(self, url: str, timeout: float = START_BUDGET_S) -> None:
        proc = next(p for p in self.procs if p.name == f"api-{url.rsplit(':', 1)[1]}")

        def up() -> bool:
            assert proc.alive(), f"api exited:\n{proc.tail()}"
            try:
                return httpx.get(f"{url}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, timeout, "the API to answer /health", self.diagnose)

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.kill()
        if self._sessions is not None:
            self._sessions.kw["bind"].dispose()

    def diagnose(self) -> str:
        parts = [
            f"--- {p.name} (pid {p.popen.pid}, rc {p.popen.poll()}) ---\n{p.explaining()}"
            for p in self.procs
        ]
        with self.sessions()() as session:
            for e in session.scalars(select(Experiment).order_by(Experiment.id)):
                parts.append(
                    f"experiment {e.id}: {e.status} attempt {e.attempt} "
                    f"samples {e.samples_done} dispatched {e.dispatched_at} "
                    f"lease {e.lease_expires_at} error {e.error!r}"
                )
        return "\n".join(parts)

    # ------------------------------------------------------------------------------ the database
    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None:
            self._sessions = make_sessionmaker(
                make_engine(DbSettings(database_url=self.database_url))
            )
        return self._sessions

    def experiment(self, experiment_id: int) -> Experiment:
        with self.sessions()() as session:
            experiment = session.get(Experiment, experiment_id)
            assert experiment is not None
            return experiment

    def wait_status(self, experiment_id: int, statuses: set[str], timeout: float) -> Experiment:
        def reached() -> Experiment | None:
            experiment = self.experiment(experiment_id)
            return experiment if experiment.status in statuses else None

        return wait_until(
            reached, timeout, f"experiment {experiment_id} to be {statuses}", self.diagnose
        )

    def wait_checkpoint(self, experiment_id: int, timeout: float) -> None:
        """Until the experiment has a checkpoint past its start (a kill then loses something)."""

        def checkpointed() -> bool:
            with self.sessions()() as session:
                stored = session.get(Checkpoint, experiment_id)
                return stored is not None and stored.samples > 0

        wait_until(checkpointed, timeout, f"a checkpoint of {experiment_id}", self.diagnose)

    def trace(self, experiment_id: int) -> list[tuple[Any, ...]]:
        with self.sessions()() as session:
            stored = traces.points(session=session, experiment_id=experiment_id)
            return sorted(
                (p["phase"], p["step"], p["seed"], p["samples"], p["attempt"]) for p in stored
            )
