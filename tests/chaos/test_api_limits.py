"""Four API processes (two `python -m api --workers 2` commands, as docker-compose.yml scales
them) on the private PostgreSQL and Redis, and 20 clients at once, released together by a
barrier and spread over both commands: the queued limit and the rate limit are exact across
the processes, round after round (the issue saw the queued limit overshoot by 1 in 2 of 5 runs,
and a rate limit per process).

- queued limit 7: each round of 20 parallel submits gets exactly 7 in and 13 refused with the
  queued limit's 429; the round's experiments are then deleted (in the database, which costs no
  request; the counters are then recounted as `silab-admin recount-usage` does) for the next
  round. No worker runs: what is queued stays queued.
- rate limit: a burst of ROUNDS × 20 + 10 and a refill of one request a day, so after the
  rounds exactly 10 requests are left; 40 parallel reads get exactly 10 through and 30 rate
  limit 429s with Retry-After (per-process buckets would let up to 4 × the burst through).

The same over three processes on the embedded default: tests/e2e/test_api_processes.py."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from chaos_helpers import key
from e2e_helpers import parallel
from spec_factory import small_spec
from sqlalchemy import delete, func, select

from db import usage
from db.models import Experiment

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(900)]

CLIENTS = 20
LIMIT = 7
ROUNDS = 5
LEFT = 10  # rate-limit tokens left after the rounds
BURST = ROUNDS * CLIENTS + LEFT
# Starting four Python processes on a loaded 2-core machine takes a while.
START_S = 300


def _kind(response: httpx.Response) -> str:
    """201, 200, or which limit refused it."""
    if response.status_code != 429:
        return str(response.status_code)
    detail = response.json()["detail"]
    if detail.startswith("rate limit") and response.headers.get("Retry-After"):
        return "429 rate limit"
    return "429 queued limit" if detail.startswith("max_queued limit") else f"429 {detail[:60]}"


def test_queued_and_rate_limits_are_exact_across_four_api_processes(chaos_stack, record) -> None:
    stack = chaos_stack
    env = {
        "SILAB_DEFAULT_MAX_QUEUED": str(LIMIT),
        "SILAB_RATE_LIMIT_PER_S": str(1 / 86_400),
        "SILAB_RATE_LIMIT_BURST": str(BURST),
    }
    urls = [stack.api(workers=2, wait=False, **env) for _ in range(2)]
    for url in urls:
        stack.wait_api(url, START_S)
    headers = key(stack)
    spec = small_spec()

    def submit(i: int) -> httpx.Response:
        # A fresh connection each: a command's uvicorn workers share its port, the kernel picks.
        return httpx.post(
            f"{urls[i % 2]}/experiments",
            json={"spec": spec, "name": f"c{i}"},
            headers=headers,
            timeout=120,
        )

    rounds = []
    for _ in range(ROUNDS):
        answers = Counter(_kind(r) for r in parallel(CLIENTS, submit))
        with stack.sessions()() as session:
            stored = session.scalar(select(func.count()).select_from(Experiment))
            session.execute(delete(Experiment))
            usage.rebuild(session=session)
            session.commit()
        rounds.append({"answers": dict(sorted(answers.items())), "stored": stored})

    def read(i: int) -> httpx.Response:
        return httpx.get(f"{urls[i % 2]}/me", headers=headers, timeout=120)

    reads = Counter(_kind(r) for r in parallel(2 * CLIENTS, read))
    record(
        api_processes=4,
        clients=CLIENTS,
        queued_limit=LIMIT,
        rounds=rounds,
        rate_limit_left=LEFT,
        reads=dict(sorted(reads.items())),
    )
    for done in rounds:
        assert done["answers"] == {"201": LIMIT, "429 queued limit": CLIENTS - LIMIT}, rounds
        assert done["stored"] == LIMIT, rounds
    assert reads == {"200": LEFT, "429 rate limit": 2 * CLIENTS - LEFT}, reads
