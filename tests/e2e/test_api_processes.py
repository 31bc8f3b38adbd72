"""Several API processes on one database, as the README and docker-compose.yml run them
(`python -m api --workers N`, and more than one such command): started together on a database
without accounts they create the first-start admin exactly once; 20 parallel clients spread
over them get exactly the queued limit in; and they share one rate limit (through Redis when the
broker is Redis, through the data folder's SQLite file on the embedded default)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_helpers import ROOT, parallel
from sqlalchemy import func, select

from db.models import Account, ApiKey, AuditEvent, Experiment
from trainer.spec import parse_text

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CLIENTS = 20
LIMIT = 7
# Starting three Python processes on a loaded 2-core machine takes a while.
START_S = 120


def tiny() -> dict[str, Any]:
    return parse_text((ROOT / "trainer" / "presets" / "tiny.yaml").read_text())


def start_together(stack: Any, **env: str) -> list[str]:
    """Two commands at once, one of them with two uvicorn workers: three API processes."""
    urls = [stack.api(workers=2, wait=False, **env), stack.api(wait=False, **env)]
    for url in urls:
        stack.wait_api(url, START_S)
    return urls


def count(stack: Any, model: Any) -> int:
    with stack.sessions()() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_api_processes_started_together_make_one_admin_and_keep_the_queued_limit(
    stack_factory: Any, db_url: str, tmp_path: Path
) -> None:
    stack = stack_factory(db_url, f"sqla+sqlite:///{tmp_path / 'data' / 'broker.db'}")
    urls = start_together(stack, SILAB_DEFAULT_MAX_QUEUED=str(LIMIT), SILAB_RATE_LIMIT_PER_S="0")
    assert (count(stack, Account), count(stack, ApiKey), count(stack, AuditEvent)) == (1, 1, 1)
    key = (tmp_path / "data" / "admin.key").read_text().strip()
    headers = {"Authorization": f"Bearer {key}"}
    for url in urls:
        assert httpx.get(f"{url}/me", headers=headers, timeout=30).json()["role"] == "admin"

    spec = tiny()

    def submit(i: int) -> int:
        # A fresh connection each: uvicorn's workers share the port, the kernel picks one.
        response = httpx.post(
            f"{urls[i % 2]}/experiments",
            json={"spec": spec, "name": f"c{i}"},
            headers=headers,
            timeout=60,
        )
        return response.status_code

    assert Counter(parallel(CLIENTS, submit)) == {201: LIMIT, 429: CLIENTS - LIMIT}
    assert count(stack, Experiment) == LIMIT


@pytest.mark.parametrize("broker", ["redis", "sqlite"])
def test_api_processes_share_one_rate_limit(
    stack_factory: Any, sqlite_url: str, tmp_path: Path, broker: str, request: Any
) -> None:
    broker_url = (
        request.getfixturevalue("redis_url")
        if broker == "redis"
        else f"sqla+sqlite:///{tmp_path / 'data' / 'broker.db'}"
    )
    stack = stack_factory(sqlite_url, broker_url)
    burst = 6
    # 0.001 per second: nothing refills while the test runs, so the count is exact.
    urls = start_together(stack, SILAB_RATE_LIMIT_PER_S="0.001", SILAB_RATE_LIMIT_BURST=str(burst))
    headers = {"Authorization": f"Bearer {(tmp_path / 'data' / 'admin.key').read_text().strip()}"}
    statuses = [
        httpx.get(f"{urls[i % 2]}/me", headers=headers, timeout=30).status_code
        for i in range(4 * burst)
    ]
    # Per-process buckets would let up to 3 × burst through.
    assert Counter(statuses) == {200: burst, 429: 3 * burst}
