"""Reordering the queue: the owner (or an admin) gives a queued experiment, or a sweep's queued
experiments, a new priority; running and finished ones keep theirs; the change is audited."""

from __future__ import annotations

from test_api_lifecycle import start, submit
from test_sweeps import experiments_of, post

from db.models import AuditEvent, Experiment


def test_a_queued_experiment_takes_a_level_name_or_a_number(client, session, spec):
    ident = submit(client, spec)
    response = client.post(f"/experiments/{ident}/priority", json={"priority": "high"})
    assert response.status_code == 200, response.text
    assert response.json()["priority"] == 10
    assert (
        client.post(f"/experiments/{ident}/priority", json={"priority": -3}).json()["priority"]
        == -3
    )
    events = (
        session.query(AuditEvent)
        .filter_by(action="priority", experiment_id=ident)
        .order_by(AuditEvent.id)  # without it PostgreSQL may return them in any order
        .all()
    )
    assert [e.detail["to"] for e in events] == [10, -3]
    assert events[1].detail["from"] == 10


def test_a_running_experiment_keeps_its_priority_with_a_409(client, session, spec):
    ident = submit(client, spec)
    start(session, ident)
    response = client.post(f"/experiments/{ident}/priority", json={"priority": "high"})
    assert response.status_code == 409 and "running" in response.json()["detail"]
    assert session.get(Experiment, ident, populate_existing=True).priority == 0


def test_a_bad_priority_is_a_422_naming_the_field(client, spec):
    ident = submit(client, spec)
    for bad in ("urgent", 5000, None):
        response = client.post(f"/experiments/{ident}/priority", json={"priority": bad})
        assert response.status_code == 422 and "priority" in response.text, response.text


def test_only_the_owner_or_an_admin_may(make_client, spec):
    ident = submit(make_client(), spec)  # alice's
    bob = make_client(user="bob")
    assert bob.post(f"/experiments/{ident}/priority", json={"priority": 1}).status_code == 403
    root = make_client(user="root")
    assert root.post(f"/experiments/{ident}/priority", json={"priority": 1}).status_code == 200


def test_a_sweep_reorders_its_queued_experiments_only(client, session, spec):
    body = post(client, {"name": "s", "base": spec, "axes": [{"path": "d", "values": [8, 16, 32]}]})
    first, *rest = experiments_of(session, body["id"])
    start(session, first.id)
    response = client.post(f"/sweeps/{body['id']}/priority", json={"priority": "low"})
    assert response.status_code == 200, response.text
    assert response.json() == {"sweep_id": body["id"], "priority": -10, "changed": len(rest)}
    session.expire_all()
    by_id = {e.id: e.priority for e in experiments_of(session, body["id"])}
    assert by_id[first.id] == 0 and all(by_id[e.id] == -10 for e in rest)
