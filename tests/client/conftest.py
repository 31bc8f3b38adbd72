"""One live API per module: uvicorn in a subprocess on a free loopback port, over a freshly
migrated SQLite database and the embedded SQLite broker, exactly as `python -m api` runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class LiveApi:
    url: str
    database_url: str  # for tests that play the worker's part
    data_dir: str  # where the API wrote admin.key on its first start
    key: str  # that admin key


def api_env(data: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "SILAB_DATA_DIR": str(data),
        "SILAB_DATABASE_URL": f"sqlite:///{data / 'silab.db'}",
    }
    for name in ("SILAB_BROKER_URL", "SILAB_URL", "SILAB_API_KEY"):
        env.pop(name, None)
    return env


def migrate(data: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env=api_env(data),
        check=True,
        capture_output=True,
    )


def start_api(data: Path, port: int) -> subprocess.Popen:
    """uvicorn on `port` over data's database; returns once /health answers."""
    url = f"http://127.0.0.1:{port}"
    log = (data / "uvicorn.log").open("a")
    server = subprocess.Popen(
        [sys.executable, "-m", "api", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=api_env(data),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"uvicorn exited: {(data / 'uvicorn.log').read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_api(server)
            raise RuntimeError("uvicorn did not answer /health within 60 s")
        time.sleep(0.1)


def stop_api(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    data = tmp_path_factory.mktemp("api")
    migrate(data)
    port = free_port()
    server = start_api(data, port)
    try:
        key = (data / "admin.key").read_text().strip()  # the first start wrote it
        yield LiveApi(
            f"http://127.0.0.1:{port}", api_env(data)["SILAB_DATABASE_URL"], str(data), key
        )
    finally:
        stop_api(server)


@pytest.fixture(scope="module")
def sessions(live_api: LiveApi):
    """Sessions on the live API's database, for tests that play the worker's part."""
    from db.config import DbSettings
    from db.session import make_engine, make_sessionmaker

    engine = make_engine(DbSettings(database_url=live_api.database_url))
    yield make_sessionmaker(engine)
    engine.dispose()
