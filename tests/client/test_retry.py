"""An API restart during `silab wait` costs a pause, not the wait: idempotent calls are retried
with backoff (client/transport.py) until the server answers again."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from client.python import SilabClient
from db import queue
from db.config import DbSettings
from db.session import make_engine, make_sessionmaker
from tests.client.conftest import ROOT, api_env, free_port, migrate, start_api, stop_api

RETRY_S = 120  # the wait's retry budget: far more than a restart of uvicorn on a loaded machine


def _until(predicate, budget_s: float, what: str, explain) -> None:
    deadline = time.monotonic() + budget_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {budget_s} s; {explain()}")
        time.sleep(0.1)


def test_wait_survives_an_api_restart(tmp_path: Path) -> None:
    data = tmp_path / "api"
    data.mkdir()
    migrate(data)
    port = free_port()
    server = start_api(data, port)
    url = f"http://127.0.0.1:{port}"
    key = (data / "admin.key").read_text().strip()
    ident = SilabClient(url, api_key=key).submit("preset:tiny")["id"]
    err = tmp_path / "wait.err"
    env = {**os.environ, "SILAB_API_KEY": key, "SILAB_RETRY_S": str(RETRY_S)}
    with err.open("w") as stderr:
        waiting = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "client.cli",
                "--url",
                url,
                "wait",
                str(ident),
                "--interval",
                "0.2",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        stop_api(server)
        _until(lambda: "retrying" in err.read_text(), 60, "the wait to retry", err.read_text)
        server = start_api(data, port)
        engine = make_engine(DbSettings(database_url=api_env(data)["SILAB_DATABASE_URL"]))
        with make_sessionmaker(engine)() as session:  # plays the worker: claim, then finish
            claimed = queue.claim(ident, session=session, worker="w", lease_seconds=60)
            session.commit()
            queue.finish(
                ident,
                session=session,
                attempt=claimed.attempt,
                status="completed",
                summary={"test_mse": 0.5},
                result={"status": "completed"},
            )
            session.commit()
        engine.dispose()
        out, _ = waiting.communicate(timeout=RETRY_S + 60)
        assert waiting.returncode == 0, (out, err.read_text())
        assert f"experiment {ident}: completed" in out
        assert "Traceback" not in err.read_text()
    finally:
        if waiting.poll() is None:
            waiting.kill()
        stop_api(server)
