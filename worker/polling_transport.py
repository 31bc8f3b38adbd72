"""kombu's SQLAlchemy broker transport with a poll interval of our choosing.

kombu's virtual transports look at an empty queue every `polling_interval` seconds, 1 s by
default. On the embedded SQLite broker that second was most of submit → running: the doorbell
waited for the maintenance worker's poll, then the dispatched group for the run worker's
(docs/results/bench_submit_to_running.json). A poll of an empty queue is one indexed SELECT on a
local file, microseconds, so a worker can afford to look every few tens of milliseconds.

kombu reads `polling_interval` from the transport options, but its SQLAlchemy channel passes every
transport option it does not know on to `create_engine`, which refuses this one. So the interval
is a class attribute of a subclass, given to Celery as `broker_transport`; kombu takes that class
only when the URL names no transport, hence `celery_broker` drops the `sqla+` prefix.
"""

from __future__ import annotations

from kombu.transport import sqlalchemy

PREFIXES = ("sqla+", "sqlalchemy+")


def is_sqlalchemy(url: str) -> bool:
    return url.startswith(PREFIXES)


def celery_broker(url: str, polling_interval_s: float) -> tuple[str, type | None]:
    """(broker URL, transport class) for Celery: our polling transport for an SQLAlchemy broker,
    the URL as it is (and kombu's own choice of transport) for any other."""
    for prefix in PREFIXES:
        if url.startswith(prefix):
            transport = type(
                "PollingTransport",
                (sqlalchemy.Transport,),
                {"polling_interval": polling_interval_s, "__module__": __name__},
            )
            return url.removeprefix(prefix), transport
    return url, None
