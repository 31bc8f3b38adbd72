"""POST /experiments and /experiments/validate against real databases and real brokers."""

from __future__ import annotations

import copy
import sqlite3
from typing import Any

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Experiment, ExperimentTag

DEAD_BROKER = "redis://127.0.0.1:6390/0"  # nothing listens here


def count(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Experiment)),
        session.scalar(select(func.count()).select_from(ExperimentTag)),
    )


def test_submit_returns_201_with_location_and_stores_the_denormalized_columns(
    client, session, spec, tmp_path
):
    response = client.post(
        "/experiments",
        json={
            "name": "tiny run",
            "tags": ["smoke", "h3"],
            "priority": 5,
            "max_attempts": 2,
            "spec": spec,
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/experiments/{body['id']}"
    assert body["status"] == "queued"
    assert body["owner"] == "alice"
    assert body["tags"] == ["h3", "smoke"]
    assert (body["target"], body["algorithm"], body["d"], body["width"], body["seeds"]) == (
        "h3",
        "reuse",
        8,
        2,
        2,
    )
    assert body["samples_total"] == 64  # 8*d fresh samples, batch 1
    # Submit = insert + commit + doorbell: nothing dispatched on the request path; the embedded
    # SQLite broker holds one silab.maintain(reap=False) message for the maintenance worker.
    assert body["dispatched_at"] is None
    with sqlite3.connect(tmp_path / "data" / "broker.db") as broker:
        [(payload,)] = broker.execute("SELECT payload FROM kombu_message").fetchall()
    assert '"task": "silab.maintain"' in payload

    stored = session.get(Experiment, body["id"])
    assert stored.priority == 5 and stored.max_attempts == 2 and stored.name == "tiny run"
    assert stored.spec["target"]["hermite"] == {"3": 1.0}  # the normalized spec, defaults in
    assert stored.spec["phase2"]["ridge_grid"]
    assert len(stored.spec_hash) == 64
    assert client.get(response.headers["location"]).json()["id"] == body["id"]


def test_owner_is_the_keys_user_and_a_user_header_is_ignored(client, spec):
    response = client.post("/experiments", json={"spec": spec}, headers={"X-Silab-User": "bob"})
    assert response.json()["owner"] == "alice"


@pytest.mark.parametrize(
    "target, label",
    [
        ("h3+h4", "h3+h4"),
        ({"hermite": {3: 0.5, 4: 0.8}}, "hermite:3=0.5,4=0.8"),
        ({"hermite": {4: 1.0}, "noise": 0.1}, "h4"),
    ],
)
def test_target_label(client, spec, target, label):
    spec["target"] = target
    response = client.post("/experiments", json={"spec": spec})
    assert response.status_code == 201, response.text
    assert response.json()["target"] == label


def _invalid(spec: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    bad = copy.deepcopy(spec)
    node = bad
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return bad


@pytest.mark.parametrize(
    "path, value, loc, words",
    [
        # a field validator (expression check)
        (
            ["phase1", "stages", 0, "lr"],
            "0.3/x",
            ["body", "spec", "phase1", "stages", 0, "lr"],
            "unknown name 'x'",
        ),
        # the whole-spec check (resolved expressions): pydantic puts it at the spec, the API names
        # the field
        (
            ["phase1", "stages", 0, "lr"],
            "-0.1",
            ["body", "spec", "phase1", "stages", 0, "lr"],
            "must be ≥ 0",
        ),
        (["model", "width"], "d-8", ["body", "spec", "model", "width"], "at least 1"),
        # a model validator of a nested object
        (["phase1", "algorithm"], "gd", ["body", "spec", "phase1"], "gd needs 'n'"),
        # plain type and constraint errors
        (["d"], -3, ["body", "spec", "d"], "greater than 0"),
        (
            ["phase1", "stages", 0, "bogus"],
            1,
            ["body", "spec", "phase1", "stages", 0, "bogus"],
            "Extra inputs",
        ),
        (["target"], "h9", ["body", "spec", "target"], "unknown target preset"),
    ],
)
def test_bad_spec_is_422_naming_the_field_and_stores_nothing(
    client, session, spec, path, value, loc, words
):
    client.post("/experiments", json={"spec": spec, "tags": ["x"]})
    before = count(session)
    response = client.post(
        "/experiments", json={"spec": _invalid(spec, path, value), "tags": ["y"]}
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(issue["loc"] == loc and words in issue["msg"] for issue in detail), detail
    assert count(session) == before == (1, 1)


def test_memory_estimate_over_the_limit_is_refused(client, session, spec):
    spec["max_memory_gb"] = 1e-6
    response = client.post("/experiments", json={"spec": spec})
    assert response.status_code == 422
    assert "memory estimate" in response.json()["detail"][0]["msg"]
    assert count(session) == (0, 0)


def test_bad_envelope_fields_are_422(client, spec):
    for body in (
        {"spec": spec, "max_attempts": 0},
        {"spec": spec, "tags": ["a b"]},
        {"spec": spec, "unknown": 1},
        {"name": "no spec"},
    ):
        assert client.post("/experiments", json=body).status_code == 422, body
    assert (
        client.post(
            "/experiments", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )


def test_validate_returns_facts_and_stores_nothing(client, session, spec):
    response = client.post("/experiments/validate", json={"spec": spec})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["valid"] is True
    assert body["facts"]["information_exponent"] == 3
    assert body["facts"]["reuse_exponent"] == 1
    assert body["facts"]["label_power_exponents"]["2"] == 2
    assert body["facts"]["memory_estimate_bytes"] > 0
    assert len(body["spec_hash"]) == 64
    assert body["spec"]["phase1"]["algorithm"] == "reuse"
    assert count(session) == (0, 0)
    # the same spec submitted has the same hash
    submitted = client.post("/experiments", json={"spec": spec}).json()
    assert submitted["spec_hash"] == body["spec_hash"]


def test_validate_422_names_the_field(client, spec):
    spec["phase1"]["stages"][0]["lr"] = "-1"
    response = client.post("/experiments/validate", json={"spec": spec})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "spec", "phase1", "stages", 0, "lr"]


def test_body_over_the_limit_is_413(make_client, session, spec):
    small = make_client(max_request_bytes=2000)
    response = small.post("/experiments", json={"spec": spec, "name": "x" * 3000})
    assert response.status_code == 413
    assert "larger than 2000 bytes" in response.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"spec": {}, "name": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}'

    response = small.post(
        "/experiments", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert count(session) == (0, 0)


def test_broker_down_submission_still_succeeds_undispatched(make_client, session, spec):
    client = make_client(broker_url=DEAD_BROKER)
    response = client.post("/experiments", json={"spec": spec})
    assert response.status_code == 201, response.text
    assert response.json()["dispatched_at"] is None
    session.expire_all()
    assert session.get(Experiment, response.json()["id"]).dispatched_at is None


def test_submit_through_redis_rings_then_the_round_sends(make_client, redis_url, spec):
    client = make_client(broker_url=redis_url)
    response = client.post("/experiments", json={"spec": spec})
    assert response.status_code == 201, response.text
    assert response.json()["dispatched_at"] is None
    server = redis.Redis.from_url(redis_url)
    try:
        assert server.llen("celery") == 0
        assert server.llen("silab.maintain") == 1  # the doorbell, on the maintenance queue
        assert b"silab.maintain" in server.lindex("silab.maintain", 0)
        assert client.app.state.dispatch.round() == [response.json()["id"]]
        assert server.llen("celery") == 1  # the worker's run queue
        message = server.lindex("celery", 0)
    finally:
        server.close()
    assert b"silab.run_group" in message  # a group of one
