"""The per-key rate limit (api.ratelimit): the token bucket's arithmetic on each store, and two
app instances (as two API processes would) sharing one limit through Redis and through the
embedded default's SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest

from api.ratelimit import (
    SHARED_RETRY_S,
    MemoryLimiter,
    PerProcessWhileDown,
    RedisLimiter,
    SqliteLimiter,
    gcra,
)

BURST = 5


def test_gcra_is_a_token_bucket():
    tat = None
    for _ in range(3):  # a burst of 3 at t = 0
        tat, wait = gcra(tat, 0.0, rate=2.0, burst=3)
        assert wait is None
    tat, wait = gcra(tat, 0.0, rate=2.0, burst=3)
    assert wait == pytest.approx(0.5)  # the next token, at 2 per second
    tat, wait = gcra(tat, 0.5, rate=2.0, burst=3)
    assert wait is None
    assert gcra(tat, 0.5, rate=2.0, burst=3)[1] == pytest.approx(0.5)
    assert gcra(tat, 100.0, rate=2.0, burst=3)[1] is None  # refilled, never above the burst


def test_memory_buckets_refill_per_key():
    now = [0.0]
    limiter = MemoryLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert limiter.take(1) is None and limiter.take(1) is None
    assert limiter.take(1) == pytest.approx(0.5)
    assert limiter.take(2) is None  # per key
    now[0] = 0.5
    assert limiter.take(1) is None


def shares_one_bucket(make: Callable[[], object]) -> None:
    """Two limiters on one store (two API processes) let BURST requests through in all, not
    BURST each; another key has its own bucket."""
    one, two = make(), make()
    allowed = [(one if i % 2 else two).take(7) is None for i in range(3 * BURST)]
    assert sum(allowed) == BURST and all(allowed[:BURST])
    assert one.take(8) is None
    wait = two.take(7)
    assert wait is not None and 0 < wait <= 1000.0


def test_sqlite_limiters_of_one_file_share_the_bucket(tmp_path):
    shares_one_bucket(lambda: SqliteLimiter(tmp_path / "ratelimit.db", 0.001, BURST))


def test_redis_limiters_share_the_bucket(redis_url):
    shares_one_bucket(lambda: RedisLimiter(redis_url, 0.001, BURST, timeout_s=2))


def test_a_redis_that_does_not_answer_falls_back_to_a_bucket_per_process():
    limiter = RedisLimiter("redis://127.0.0.1:6390/0", 0.001, 2, timeout_s=0.5)
    assert [limiter.take(1) is None for _ in range(3)] == [True, True, False]


class _FullDisk:
    """An SQLite connection whose COMMIT fails as on a full disk (SQLITE_FULL)."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    @property
    def in_transaction(self) -> bool:
        return self.real.in_transaction

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self.real.execute(sql, *args)


def test_an_sqlite_file_that_cannot_be_written_falls_back_to_a_bucket_per_process(tmp_path):
    limiter = SqliteLimiter(tmp_path / "ratelimit.db", rate=0.001, burst=2)
    limiter._db = _FullDisk(limiter._db)  # type: ignore[assignment]
    waits = [limiter.take(1) for _ in range(3)]
    assert waits[:2] == [None, None] and waits[2] is not None  # still limited, not a 500
    assert not limiter._db.in_transaction


@pytest.mark.parametrize("broker", ["redis", "sqlite"])
def test_two_app_instances_share_one_limit(make_client, broker, request):
    broker_url = request.getfixturevalue("redis_url") if broker == "redis" else None
    # rate 0.001/s: nothing refills while the test runs, so the count is exact
    apps = [
        make_client(broker_url=broker_url, rate_limit_per_s=0.001, rate_limit_burst=BURST)
        for _ in range(2)
    ]
    statuses = [apps[i % 2].get("/me").status_code for i in range(3 * BURST)]
    assert statuses.count(200) == BURST and statuses.count(429) == 2 * BURST
    limited = apps[0].get("/me")
    assert int(limited.headers["retry-after"]) >= 1 and "rate limit" in limited.json()["detail"]
    assert (
        make_client(broker_url=broker_url, user="bob", rate_limit_per_s=0.001)
        .get("/me")
        .status_code
        == 200
    )


def test_while_the_shared_store_fails_each_process_limits_on_its_own_then_tries_again():
    now = [0.0]
    calls: list[int] = []

    def failing(key_id: int) -> float | None:
        calls.append(key_id)
        raise sqlite3.OperationalError("database or disk is full")

    guard = PerProcessWhileDown(1.0, 2, "writing ratelimit.db", (sqlite3.Error,), lambda: now[0])
    answers = [guard.take(7, failing) for _ in range(3)]
    assert answers[:2] == [None, None] and answers[2] is not None  # still limited: burst 2
    assert calls == [7]  # the store is not asked again while it is down
    now[0] += SHARED_RETRY_S
    assert guard.take(7, lambda key_id: 0.25) == 0.25  # back: the shared bucket decides
