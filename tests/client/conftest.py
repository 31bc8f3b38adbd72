"""One live API per module: uvicorn in a subprocess on a free loopback port, over a freshly
migrated SQLite database and the embedded SQLite broker, exactly as `uvicorn api.main:app` runs."""

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


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    data = tmp_path_factory.mktemp("api")
    env = {
        **os.environ,
        "SILAB_DATA_DIR": str(data),
        "SILAB_DATABASE_URL": f"sqlite:///{data / 'silab.db'}",
    }
    env.pop("SILAB_BROKER_URL", None)
    env.pop("SILAB_URL", None)
    env.pop("SILAB_API_KEY", None)
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (data / "uvicorn.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {(data / 'uvicorn.log').read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not answer /health within 30 s")
            time.sleep(0.1)
        key = (data / "admin.key").read_text().strip()  # the first start wrote it
        yield LiveApi(url, env["SILAB_DATABASE_URL"], str(data), key)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
