"""GET one, cancel (queued / running / finished) and retry, driven through db.queue like a
worker would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from db import queue, scheduler

DEAD_BROKER = "redis://127.0.0.1:6390/0"


def submit(client, spec) -> int:
    response = client.post("/experiments", json={"spec": spec})
    assert response.status_code == 201
    return response.json()["id"]


def start(session, experiment_id: int) -> int:
    claimed = queue.claim(experiment_id, session=session, worker="w1", lease_seconds=60)
    session.commit()
    return claimed.attempt


def test_show_and_404(client, spec):
    ident = submit(client, spec)
    assert client.get(f"/experiments/{ident}").json()["spec"]["d"] == 8
    missing = client.get("/experiments/424242")
    assert missing.status_code == 404 and "424242" in missing.json()["detail"]
    assert client.get("/experiments/0").status_code == 422
    assert client.post("/experiments/424242/cancel").status_code == 404
    assert client.post("/experiments/424242/retry").status_code == 404


def test_cancel_a_queued_experiment_cancels_it_at_once(client, session, spec):
    ident = submit(client, spec)
    response = client.post(f"/experiments/{ident}/cancel")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled" and body["finished_at"] and body["cancel_requested"]
    # it never starts
    assert queue.claim(ident, session=session, worker="w", lease_seconds=60) is None
    session.rollback()
    again = client.post(f"/experiments/{ident}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_cancel_a_running_experiment_requests_it(client, session, spec):
    ident = submit(client, spec)
    attempt = start(session, ident)
    response = client.post(f"/experiments/{ident}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "running" and response.json()["cancel_requested"]
    # the worker hears it at its next heartbeat
    reply = queue.heartbeat(ident, session=session, attempt=attempt, lease_seconds=60)
    session.commit()
    assert reply.alive and reply.cancel_requested


@pytest.mark.parametrize("end", ["completed", "failed"])
def test_cancel_a_finished_experiment_is_409(client, session, spec, end):
    ident = submit(client, spec)
    attempt = start(session, ident)
    if end == "completed":
        queue.finish(
            ident,
            session=session,
            attempt=attempt,
            status="completed",
            summary={"test_mse": 0.1},
            result={"status": "completed"},
        )
    else:
        queue.fail(ident, session=session, attempt=attempt, error="boom")
    session.commit()
    response = client.post(f"/experiments/{ident}/cancel")
    assert response.status_code == 409
    assert client.get(f"/experiments/{ident}").json()["status"] == end


def test_retry_a_failed_experiment_requeues_and_redispatches(client, session, spec):
    ident = submit(client, spec)
    attempt = start(session, ident)
    queue.fail(ident, session=session, attempt=attempt, error="CUDA out of memory")
    session.commit()
    failed = client.get(f"/experiments/{ident}").json()
    assert failed["status"] == "failed" and failed["error"] == "CUDA out of memory"
    response = client.post(f"/experiments/{ident}/retry")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "queued" and body["error"] is None
    assert body["max_attempts"] > body["attempt"] == 1  # a renewed budget
    assert body["dispatched_at"] is None  # the retry rang; the maintenance worker sends it
    assert client.app.state.dispatch.round() == [ident]
    assert start(session, ident) == 2


def test_retry_with_the_broker_down_leaves_it_for_the_dispatcher(make_client, session, spec):
    client = make_client(broker_url=DEAD_BROKER)
    ident = submit(client, spec)
    client.post(f"/experiments/{ident}/cancel")
    body = client.post(f"/experiments/{ident}/retry").json()
    assert body["status"] == "queued" and body["dispatched_at"] is None
    groups = scheduler.plan_groups(
        session=session, slots=10, default_max_running=None, resend_after_s=60
    )
    assert any(ident in group for group in groups)


@pytest.mark.parametrize("state", ["queued", "running", "completed"])
def test_retry_is_409_unless_failed_cancelled_or_diverged(client, session, spec, state):
    ident = submit(client, spec)
    if state != "queued":
        attempt = start(session, ident)
        if state == "completed":
            queue.finish(
                ident,
                session=session,
                attempt=attempt,
                status="completed",
                summary={},
                result={"status": "completed"},
            )
            session.commit()
    response = client.post(f"/experiments/{ident}/retry")
    assert response.status_code == 409
    assert state in response.json()["detail"]


def test_summary_columns_and_result_are_shown(client, session, spec):
    ident = submit(client, spec)
    attempt = start(session, ident)
    now = datetime.now(UTC) + timedelta(seconds=5)
    queue.finish(
        ident,
        session=session,
        attempt=attempt,
        status="diverged",
        now=now,
        summary={"test_mse": 0.25, "final_median_abs_m": 0.9, "wall_time_s": 3.0},
        result={"status": "diverged", "message": "nan"},
    )
    session.commit()
    body = client.get(f"/experiments/{ident}").json()
    assert body["status"] == "diverged"
    assert (body["test_mse"], body["final_median_abs_m"], body["wall_time_s"]) == (0.25, 0.9, 3.0)
    assert body["result"]["message"] == "nan"
    assert client.post(f"/experiments/{ident}/retry").json()["test_mse"] is None
