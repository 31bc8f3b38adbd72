"""Limits that must hold when many requests arrive at once, on both databases: the queued limit
under 20 parallel clients, and the first-start admin account created exactly once by several
starts together. (The same across real API processes: tests/e2e/test_api_processes.py.)"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from api.auth import bootstrap_admin
from db.models import Account, ApiKey, AuditEvent, Experiment

CLIENTS = 20
LIMIT = 7


def parallel(calls: int, call):
    """`call(i)` from `calls` threads released together by a barrier; their results in order."""
    barrier = threading.Barrier(calls)

    def run(i: int):
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(calls) as pool:
        return list(pool.map(run, range(calls)))


def queued_of(session, owner: str) -> int:
    return session.scalar(
        select(func.count())
        .select_from(Experiment)
        .where(Experiment.owner == owner, Experiment.status == "queued")
    )


def test_exactly_the_queued_limit_gets_in_from_20_parallel_clients(make_client, session, spec):
    alice = make_client(default_max_queued=LIMIT)
    statuses = parallel(
        CLIENTS,
        lambda i: alice.post("/experiments", json={"spec": spec, "name": f"c{i}"}).status_code,
    )
    assert Counter(statuses) == {201: LIMIT, 429: CLIENTS - LIMIT}
    assert queued_of(session, "alice") == LIMIT
    # a sweep that would go over is refused whole, and another owner is not held up by alice
    bob = make_client(user="bob", default_max_queued=LIMIT)
    assert bob.post("/experiments", json={"spec": spec}).status_code == 201


def test_parallel_sweeps_and_submits_share_one_queued_limit(make_client, session, spec):
    alice = make_client(default_max_queued=LIMIT)

    def submit(i: int) -> int:
        if i % 2:
            return alice.post("/experiments", json={"spec": spec, "name": f"c{i}"}).status_code
        sweep = {"name": f"s{i}", "base": spec, "axes": [{"path": "d", "values": [8, 9]}]}
        return alice.post("/sweeps", json=sweep).status_code

    statuses = parallel(CLIENTS, submit)
    assert set(statuses) <= {201, 200, 429}
    assert queued_of(session, "alice") <= LIMIT
    assert queued_of(session, "alice") >= LIMIT - 1  # a refused sweep may leave one place free


def test_several_first_starts_at_once_create_one_admin(session_factory, tmp_path, session):
    made = parallel(8, lambda i: bootstrap_admin(session_factory, tmp_path / "data"))
    assert sum(path is not None for path in made) == 1
    assert session.scalar(select(func.count()).select_from(Account)) == 1
    assert session.scalar(select(func.count()).select_from(ApiKey)) == 1
    assert session.scalars(select(AuditEvent.action)).all() == ["create_user"]
    assert (tmp_path / "data" / "admin.key").read_text().startswith("silab_")
