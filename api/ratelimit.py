"""The per-key rate limit, shared by every API process: a token bucket (`burst` requests at once,
refilled at `rate` per second) kept as GCRA's one number per key, the time at which the bucket
would be full again ("theoretical arrival time", TAT).

Where the number lives decides who shares it:
- Redis (when the broker is Redis): every API process on every host; one Lua script reads and
  writes it atomically with Redis's own clock. While Redis does not answer, each process falls
  back to its own bucket for a few seconds at a time: requests are still limited, per process.
- an SQLite file in the data folder (the embedded default): every API process on this host, in
  one `BEGIN IMMEDIATE` transaction per request. While the file cannot be written (its disk is
  full), each process falls back to its own bucket the same way: a full disk must not turn
  every request, reads included, into a 500.
- this process's memory: tests, and rate 0 (off).

Why not the `limits` library (Flask-Limiter's): it has window strategies, not a token bucket, so
the documented rate + burst would change meaning, and it has no SQLite storage for the embedded
default. GCRA is a dozen lines wherever the number is stored.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import redis

from api.config import ApiSettings

log = logging.getLogger(__name__)

REDIS_PREFIX = "silab:rate:"
# After Redis failed to answer (or the SQLite file could not be written), use the in-process
# bucket this long before trying again, so that an outage costs one timeout every few seconds,
# not one per request.
SHARED_RETRY_S = 5.0


class Limiter(Protocol):
    def take(self, key_id: int) -> float | None:
        """None when the request may go ahead, else the seconds until it may."""

    def close(self) -> None: ...


def gcra(tat: float | None, now: float, *, rate: float, burst: int) -> tuple[float, float | None]:
    """One request against a bucket whose TAT is `tat` (None: never used): (the new TAT, None)
    when it may go ahead, else (`tat` unchanged, seconds until it may)."""
    interval = 1.0 / rate
    after = max(tat if tat is not None else now, now) + interval
    over = after - now - burst * interval
    if over > 0:
        return (tat if tat is not None else now), over
    return after, None


class Unlimited:
    def take(self, key_id: int) -> float | None:
        return None

    def close(self) -> None:
        pass


class MemoryLimiter:
    """Buckets in this process's memory (with several API processes, each has its own)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, max(1, burst), clock
        self._tats: dict[int, float] = {}
        self._lock = threading.Lock()

    def take(self, key_id: int) -> float | None:
        with self._lock:
            tat, wait = gcra(self._tats.get(key_id), self.clock(), rate=self.rate, burst=self.burst)
            self._tats[key_id] = tat
            return wait

    def close(self) -> None:
        pass


class PerProcessWhileDown:
    """A shared store's bucket with this process's own as a stand-in: after the store fails
    (`errors`), requests are limited per process for SHARED_RETRY_S before the store is tried
    again."""

    def __init__(
        self,
        rate: float,
        burst: int,
        store: str,
        errors: tuple[type[Exception], ...],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fallback = MemoryLimiter(rate, burst, clock)
        self._store, self._errors, self._clock = store, errors, clock
        self._down_until = 0.0

    def take(self, key_id: int, shared: Callable[[int], float | None]) -> float | None:
        if self._clock() < self._down_until:
            return self._fallback.take(key_id)
        try:
            return shared(key_id)
        except self._errors as error:
            self._down_until = self._clock() + SHARED_RETRY_S
            log.warning(
                "rate limit: %s failed (%s); limiting per process for %g s",
                self._store,
                error,
                SHARED_RETRY_S,
            )
            return self._fallback.take(key_id)


class SqliteLimiter:
    """Buckets in an SQLite file, shared by the API processes of one host (one clock)."""

    def __init__(
        self, path: Path, rate: float, burst: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.rate, self.burst, self.clock = rate, max(1, burst), clock
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: the transaction is the explicit BEGIN IMMEDIATE in _take_shared().
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Losing the last buckets to a power cut only forgives a few requests.
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE IF NOT EXISTS bucket (key INTEGER PRIMARY KEY, tat REAL)")
        self._lock = threading.Lock()  # one connection, used by one thread at a time
        self._shared = PerProcessWhileDown(rate, burst, f"writing {path}", (sqlite3.Error,))

    def take(self, key_id: int) -> float | None:
        return self._shared.take(key_id, self._take_shared)

    def _take_shared(self, key_id: int) -> float | None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT tat FROM bucket WHERE key = ?", (key_id,)).fetchone()
                tat, wait = gcra(
                    row[0] if row else None, self.clock(), rate=self.rate, burst=self.burst
                )
                if wait is None:
                    self._db.execute(
                        "INSERT INTO bucket (key, tat) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET tat = excluded.tat",
                        (key_id, tat),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # a failed COMMIT may have ended it already
                    self._db.execute("ROLLBACK")
                raise
            return wait

    def close(self) -> None:
        self._db.close()


# KEYS[1]: the bucket; ARGV: interval (1/rate), burst. Returns "" when the request may go ahead,
# else the seconds to wait (strings: Redis would truncate a Lua number to an integer).
GCRA_SCRIPT = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local after = math.max(tat, now) + interval
local over = after - now - burst * interval
if over > 0 then
  return tostring(over)
end
redis.call('SET', KEYS[1], tostring(after), 'PX', math.ceil((after - now) * 1000))
return ''
"""


class RedisLimiter:
    """Buckets in Redis, shared by every API process that uses this Redis."""

    def __init__(self, url: str, rate: float, burst: int, *, timeout_s: float) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._script = self._redis.register_script(GCRA_SCRIPT)
        self._shared = PerProcessWhileDown(rate, burst, "Redis", (redis.RedisError,))

    def take(self, key_id: int) -> float | None:
        return self._shared.take(key_id, self._take_shared)

    def _take_shared(self, key_id: int) -> float | None:
        answer = self._script(keys=[f"{REDIS_PREFIX}{key_id}"], args=[1.0 / self.rate, self.burst])
        text = answer.decode() if isinstance(answer, bytes) else str(answer)
        return float(text) if text else None

    def close(self) -> None:
        self._redis.close()


def make_limiter(settings: ApiSettings) -> Limiter:
    """Redis when the broker is Redis, else the SQLite file `<data_dir>/ratelimit.db`; rate 0:
    no limit."""
    rate, burst = settings.rate_limit_per_s, settings.rate_limit_burst
    if rate <= 0 or math.isinf(rate):
        return Unlimited()
    broker = settings.broker
    if broker.split(":", 1)[0] in ("redis", "rediss"):
        return RedisLimiter(broker, rate, burst, timeout_s=settings.broker_timeout_s)
    return SqliteLimiter(settings.data_path / "ratelimit.db", rate, burst)
