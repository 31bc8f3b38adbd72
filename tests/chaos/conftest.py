"""Chaos fixtures: one private PostgreSQL cluster and one private Redis per test session
(servers.py), a fresh migrated database and an empty Redis per scenario, and the figures every
scenario records (printed, and written as JSON with --chaos-results PATH: scripts/chaos)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

# The process helpers of the e2e suite (Stack, wait_until) serve this suite too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from chaos_helpers import SMALL_DISK
from e2e_helpers import ROOT, Stack
from servers import PostgresCluster, RedisServer, postgres_bin

FIGURES: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    if postgres_bin() is None:
        pytest.fail("the chaos suite needs PostgreSQL's initdb/pg_ctl (/usr/lib/postgresql)")
    cluster = PostgresCluster()
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.close()


@pytest.fixture
def chaos_stack(
    postgres_cluster: PostgresCluster, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Stack]:
    """A Stack (e2e_helpers) on a fresh database of the private cluster and the private Redis."""
    url = postgres_cluster.new_database()
    migrate(url, tmp_path)
    redis.Redis.from_url(redis_server.url).flushall()
    (tmp_path / "data").mkdir()
    stack = Stack(tmp_path, url, redis_server.url)
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture
def small_disk_stack(tmp_path: Path) -> Iterator[Stack]:
    """A Stack on the embedded default (SQLite database and broker in the data folder), with the
    data folder on its own small tmpfs, so that it can be filled. Mounting needs root (and
    CAP_SYS_ADMIN); without it the scenario is skipped, saying so."""
    data = tmp_path / "data"
    data.mkdir()
    if os.geteuid() != 0:
        pytest.skip("the disk-full scenario mounts a small tmpfs, which needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK},mode=0700", "tmpfs", str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    url = f"sqlite:///{data / 'silab.db'}"
    stack = Stack(tmp_path, url, f"sqla+sqlite:///{data / 'broker.db'}")
    try:
        migrate(url, tmp_path)
        yield stack
    finally:
        stack.close()
        subprocess.run(["umount", "-l", str(data)], check=False, capture_output=True)


def migrate(url: str, tmp_path: Path) -> None:
    subprocess.run(  # as an operator would, through migrations/env.py
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env={**stack_env(tmp_path), "SILAB_DATABASE_URL": url},
        check=True,
        capture_output=True,
    )


def stack_env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[..., None]:
    """record(**figures): this scenario's figures, printed at the end of the session."""

    def write(**figures: Any) -> None:
        FIGURES[request.node.name] = {**figures, "load_average": list(os.getloadavg())}
        print(f"\nchaos {request.node.name}: {json.dumps(figures)}")

    return write


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Writes this session's scenarios into the --chaos-results file, keeping the figures of
    scenarios it did not run (`scripts/chaos -k NAME` refreshes one)."""
    target = session.config.getoption("chaos_results", None)
    if not (FIGURES and target):
        return
    path = Path(target)
    document = json.loads(path.read_text()) if path.exists() else {}
    document["scenarios"] = {**document.get("scenarios", {}), **FIGURES}
    document["load_average_at_end"] = os.getloadavg()
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
