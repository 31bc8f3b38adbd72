"""The per-user trace quota (SILAB_MAX_USER_TRACE_POINTS): a user's experiments together hold at
most so many trace points, counting the stored points of finished experiments and the estimate
(facts.trace_points) of queued and running ones. A submit, a batch or a sweep that would go over
is a 429 that says the quota, the usage and what to do, and stores nothing; it is exact under
parallel submits, like the queued limit."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from test_concurrent_limits import parallel

from api.services import trace_quota
from db import queue, usage
from db.models import Experiment
from tests.trace_helpers import add_points

TINY_POINTS = 12  # the tiny preset: 2 seeds × (5 log-spaced positions + Phase II)


def _count(session, owner: str = "alice") -> int:
    query = select(func.count()).select_from(Experiment).where(Experiment.owner == owner)
    return session.scalar(query) or 0


def _stored_points(session, experiment_id: int, count: int) -> None:
    add_points(
        session,
        [
            {"experiment_id": experiment_id, "seed": 0, "phase": "phase1", "step": step,
             "samples": step, "mean_abs_m": 0.1}
            for step in range(count)
        ],
    )  # fmt: skip
    session.commit()


def test_a_submit_over_the_quota_is_429_with_the_quota_the_usage_and_what_to_do(
    make_client, session, spec
):
    client = make_client(max_user_trace_points=2 * TINY_POINTS + 5, default_max_queued=None)
    for _ in range(2):
        assert client.post("/experiments", json={"spec": spec}).status_code == 201
    refused = client.post("/experiments", json={"spec": spec})
    assert refused.status_code == 429, refused.text
    message = refused.json()["detail"]
    assert f"at most {2 * TINY_POINTS + 5} trace points" in message
    assert f"holds {2 * TINY_POINTS}" in message and f"add {TINY_POINTS}" in message
    assert "SILAB_MAX_USER_TRACE_POINTS" in message and "Delete old experiments" in message
    assert _count(session) == 2
    # another user's quota is their own
    bob = make_client(user="bob", max_user_trace_points=TINY_POINTS)
    assert bob.post("/experiments", json={"spec": spec}).is_success


def test_finished_experiments_count_what_they_store_and_deleting_one_frees_it(
    make_client, make_experiment, session, spec
):
    finished = make_experiment(status="running", attempt=1, trace_points=10**6)
    _stored_points(session, finished, 20)
    ended = queue.finish(
        finished, session=session, attempt=1, status="completed", summary={}, result={}
    )
    assert ended  # from now on it counts the 20 points it stored, not its estimate
    session.commit()
    before_quota = make_experiment(status="queued", trace_points=None)  # counts stored points
    _stored_points(session, before_quota, 3)
    usage.recharge([before_quota], session=session)  # as migration usage01 charges such a row
    session.commit()
    make_experiment(status="queued", trace_points=7)
    make_experiment(owner="bob", status="queued", trace_points=10**6)
    assert trace_quota.usage("alice", session=session) == 20 + 3 + 7

    client = make_client(max_user_trace_points=30 + TINY_POINTS - 1)
    assert client.post("/experiments", json={"spec": spec}).status_code == 429
    assert client.delete(f"/experiments/{finished}").status_code == 204
    assert client.post("/experiments", json={"spec": spec}).status_code == 201
    assert trace_quota.usage("alice", session=session) == 3 + 7 + TINY_POINTS


def test_a_batch_and_a_sweep_count_whole(make_client, session, spec):
    client = make_client(max_user_trace_points=2 * TINY_POINTS)
    three = {"items": [{"spec": spec}] * 3}
    assert client.post("/experiments:batch", json=three).status_code == 429
    lrs = {"path": "phase1.stages.0.lr", "values": [0.01, 0.02, 0.03]}
    sweep = {"name": "s", "base": spec, "axes": [lrs]}
    refused = client.post("/sweeps", json=sweep)
    assert refused.status_code == 429, refused.text
    assert f"add {3 * TINY_POINTS}" in refused.json()["detail"]
    assert _count(session) == 0
    assert client.post("/experiments:batch", json={"items": [{"spec": spec}] * 2}).is_success


def test_exactly_what_fits_gets_in_from_20_parallel_clients(make_client, session, spec):
    # No queued limit: the quota's own lock must serialize the owner's submits.
    fits = 7
    alice = make_client(max_user_trace_points=fits * TINY_POINTS, default_max_queued=None)
    statuses = parallel(
        20, lambda i: alice.post("/experiments", json={"spec": spec, "name": f"c{i}"}).status_code
    )
    assert Counter(statuses) == {201: fits, 429: 20 - fits}
    assert trace_quota.usage("alice", session=session) == fits * TINY_POINTS


def test_a_retry_counts_its_estimate_instead_of_what_it_stored_and_is_refused_over_the_quota(
    make_client, make_experiment, session
):
    # Failed after storing 4 points; queued again it counts its estimate, 12: a retry adds 8.
    failed = make_experiment(status="running", attempt=1, trace_points=12)
    _stored_points(session, failed, 4)
    assert queue.fail(failed, session=session, attempt=1, error="boom")
    session.commit()
    assert trace_quota.usage("alice", session=session) == 4

    tight = make_client(max_user_trace_points=11)
    refused = tight.post(f"/experiments/{failed}/retry")
    assert refused.status_code == 429, refused.text
    message = refused.json()["detail"]
    assert "at most 11 trace points" in message and "holds 4" in message
    assert "this retry would add 8, 1 over" in message
    session.expire_all()
    assert session.get(Experiment, failed).status == "failed"  # nothing changed

    fits = make_client(max_user_trace_points=12)
    assert fits.post(f"/experiments/{failed}/retry").status_code == 200
    assert trace_quota.usage("alice", session=session) == 12
