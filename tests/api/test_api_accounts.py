"""Accounts and the shared pool through the API: keys (401), ownership (403), the audit log,
delete, priorities, queued limits (429), idempotency, the memory limit, rate limiting, queue
positions and the first-start admin key."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from conftest import bearer, create_users
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api import accounts
from api.config import ApiSettings
from api.main import create_app
from db import queue, traces
from db.models import Account, ApiKey, AuditEvent, Checkpoint, Experiment


def submit(client, spec, **fields) -> int:
    response = client.post("/experiments", json={"spec": spec, **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]


# ------------------------------------------------------------------------------------- keys
def test_missing_malformed_unknown_revoked_and_expired_keys_are_401(
    make_client, session_factory, spec
):
    anonymous = make_client(user=None)
    response = anonymous.get("/experiments")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["detail"]
    assert anonymous.get("/experiments", headers={"Authorization": "Basic abc"}).status_code == 401
    assert anonymous.get("/experiments", headers=bearer("silab_nope")).status_code == 401
    assert anonymous.get("/health").status_code == 200  # open for probes
    assert anonymous.get("/metrics").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200

    with session_factory() as session:
        account = accounts.find_account("alice", session=session)
        _, short_lived = accounts.create_key(  # made an hour ago, for a minute
            account,
            session=session,
            expires_in=timedelta(minutes=1),
            now=datetime.now(UTC) - timedelta(hours=1),
        )
        row, revoked = accounts.create_key(account, session=session)
        session.commit()
        assert anonymous.get("/me", headers=bearer(revoked)).status_code == 200
        assert accounts.revoke_key(row.prefix, session=session) == [row]
        session.commit()
    assert anonymous.get("/me", headers=bearer(revoked)).status_code == 401
    assert anonymous.get("/me", headers=bearer(short_lived)).status_code == 401


def test_keys_are_stored_as_sha256_only(session_factory, keys):
    with session_factory() as session:
        principal = accounts.authenticate(keys["alice"], session=session)
        assert principal is not None and principal.name == "alice" and not principal.is_admin
        stored = [row[0] for row in session.execute(select(ApiKey.key_hash))]
    assert accounts.hash_key(keys["alice"]) in stored
    assert all(key not in stored for key in keys.values())
    assert keys["alice"].startswith("silab_") and len(keys["alice"]) > 40


def test_me_shows_the_limits_and_usage(make_client, spec):
    client = make_client(default_max_queued=5, default_max_running=2)
    submit(client, spec)
    me = client.get("/me").json()
    assert (me["name"], me["role"], me["max_queued"], me["max_running"]) == (
        "alice",
        "member",
        5,
        2,
    )
    assert me["queued"] + me["running"] == 1
    facts = client.post("/experiments/validate", json={"spec": spec}).json()["facts"]
    assert me["trace_points"] == facts["trace_points"]  # what the trace quota counts
    assert me["max_trace_points"] == 200_000_000


# -------------------------------------------------------------------------------- ownership
def test_only_the_owner_or_an_admin_may_cancel_retry_or_delete(make_client, session, spec):
    alice, bob, root = make_client(), make_client(user="bob"), make_client(user="root")
    ident = submit(alice, spec)
    assert bob.get(f"/experiments/{ident}").status_code == 200  # the lab reads everything
    for method, path in (("post", "cancel"), ("post", "retry")):
        response = getattr(bob, method)(f"/experiments/{ident}/{path}")
        assert response.status_code == 403 and "belongs to alice" in response.json()["detail"]
    assert bob.delete(f"/experiments/{ident}").status_code == 403
    assert root.post(f"/experiments/{ident}/cancel").status_code == 200
    assert alice.post(f"/experiments/{ident}/retry").status_code == 200
    assert alice.delete(f"/experiments/{ident}").status_code == 204
    assert alice.get(f"/experiments/{ident}").status_code == 404


def test_own_only_visibility_hides_others_experiments(make_client, spec):
    alice = make_client(experiments_visible="own")
    bob = make_client(user="bob", experiments_visible="own")
    root = make_client(user="root", experiments_visible="own")
    ident = submit(alice, spec)
    assert bob.get(f"/experiments/{ident}").status_code == 404
    assert bob.get(f"/experiments/{ident}/trace").status_code == 404
    assert bob.get("/experiments").json()["items"] == []
    assert bob.get("/experiments", params={"owner": "alice"}).json()["items"] == []
    assert [e["id"] for e in alice.get("/experiments").json()["items"]] == [ident]
    assert root.get(f"/experiments/{ident}").status_code == 200


def test_delete_removes_trace_and_checkpoint_and_refuses_a_running_one(client, session, spec):
    ident = submit(client, spec)
    claimed = queue.claim(ident, session=session, worker="w", lease_seconds=60)
    queue.write_trace(
        ident,
        session=session,
        attempt=claimed.attempt,
        rows=[{"seed": 0, "phase": "phase1", "step": 1, "samples": 1}],
    )
    queue.save_checkpoint(ident, session=session, attempt=claimed.attempt, samples=1, state=b"x")
    session.commit()
    response = client.delete(f"/experiments/{ident}")
    assert response.status_code == 409 and "cancel it first" in response.json()["detail"]
    queue.fail(ident, session=session, attempt=claimed.attempt, error="boom")
    session.commit()
    assert client.delete(f"/experiments/{ident}").status_code == 204
    session.expire_all()
    assert session.get(Experiment, ident) is None
    assert session.get(Checkpoint, ident) is None
    assert traces.points(session=session, experiment_id=ident) == []
    assert client.delete(f"/experiments/{ident}").status_code == 404


def test_the_audit_log_records_who_did_what_and_is_for_admins(make_client, spec):
    alice, root = make_client(), make_client(user="root")
    ident = submit(alice, spec)
    root.post(f"/experiments/{ident}/cancel")
    alice.post(f"/experiments/{ident}/retry")
    alice.delete(f"/experiments/{ident}")
    assert alice.get("/audit").status_code == 403
    events = root.get("/audit", params={"experiment_id": ident}).json()["items"]
    assert [(e["actor"], e["action"]) for e in events] == [
        ("alice", "delete"),
        ("alice", "retry"),
        ("root", "cancel"),
        ("alice", "submit"),
    ]
    first = root.get("/audit", params={"limit": 2})
    assert len(first.json()["items"]) == 2 and first.json()["next_cursor"]
    rest = root.get("/audit", params={"limit": 2, "cursor": first.json()["next_cursor"]})
    assert [e["action"] for e in rest.json()["items"]] == ["cancel", "submit"]
    assert root.get("/audit", params={"cursor": "x"}).status_code == 422


# --------------------------------------------------------------------- priorities and limits
def test_named_priorities_map_to_integers(client, spec):
    assert (
        client.post("/experiments", json={"spec": spec, "priority": "high"}).json()["priority"]
        == 10
    )
    assert (
        client.post("/experiments", json={"spec": spec, "priority": "low"}).json()["priority"]
        == -10
    )
    assert client.post("/experiments", json={"spec": spec, "priority": "urgent"}).status_code == 422


def test_over_the_queued_limit_is_429_saying_which_limit_and_by_how_much(
    make_client, session, spec
):
    client = make_client(default_max_queued=2)
    submit(client, spec)
    submit(client, spec)
    response = client.post("/experiments", json={"spec": spec})
    assert response.status_code == 429
    assert "max_queued" in response.json()["detail"] and "1 over" in response.json()["detail"]
    # an admin raises alice's own limit
    account = session.scalar(select(Account).where(Account.name == "alice"))
    account.max_queued = 3
    session.commit()
    submit(client, spec)
    # bob has his own budget
    submit(make_client(user="bob", default_max_queued=2), spec)


def test_the_memory_estimate_limit_is_422_naming_the_field(make_client, spec):
    client = make_client(max_memory_gb=1e-6)
    for path in ("/experiments", "/experiments/validate"):
        response = client.post(path, json={"spec": spec})
        assert response.status_code == 422
        issue = response.json()["detail"][0]
        assert issue["loc"] == ["body", "spec", "max_memory_gb"]
        assert "SILAB_MAX_MEMORY_GB" in issue["msg"] and "memory_estimate_bytes" in issue["msg"]


def test_request_size_limit_is_413(make_client, spec):
    client = make_client(max_request_bytes=100)
    assert client.post("/experiments", json={"spec": spec}).status_code == 413


# ------------------------------------------------------------------------------ idempotency
def test_idempotency_key_replays_the_first_response_and_refuses_a_different_body(
    client, session, spec
):
    headers = {"Idempotency-Key": "sweep-7-cell-3"}
    first = client.post("/experiments", json={"spec": spec, "name": "a"}, headers=headers)
    again = client.post("/experiments", json={"spec": spec, "name": "a"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = client.post("/experiments", json={"spec": spec, "name": "b"}, headers=headers)
    assert other.status_code == 409 and "different request" in other.json()["detail"]
    assert session.scalar(select(func.count()).select_from(Experiment)) == 1
    # keys are per user
    bob = client.post(
        "/experiments",
        json={"spec": spec, "name": "a"},
        headers={**headers, **bearer(_key(client, session, "bob"))},
    )
    assert bob.status_code == 201 and bob.json()["id"] != first.json()["id"]


def _key(client, session, name: str) -> str:
    account = accounts.find_account(name, session=session)
    key = accounts.create_key(account, session=session)[1]
    session.commit()
    return key


# ----------------------------------------------------------------------------- rate limiting
def test_rate_limit_is_429_with_retry_after(make_client):
    client = make_client(rate_limit_per_s=0.5, rate_limit_burst=2)
    assert client.get("/me").status_code == 200
    assert client.get("/me").status_code == 200
    limited = client.get("/me")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert client.get("/health").status_code == 200  # open routes are not limited


# --------------------------------------------------------------------------------- position
def unfusable(spec: dict, k: int) -> dict:
    """The spec at another d: a different shape, so the dispatcher cannot group it with the
    others (a group of same-shape experiments holds one slot)."""
    return {**spec, "d": spec["d"] + k}


def test_position_of_a_queued_experiment_and_what_it_waits_for(make_client, session, spec):
    alice, bob = make_client(), make_client(user="bob")
    first = submit(alice, unfusable(spec, 0))  # takes the one slot
    queued = [submit(alice, unfusable(spec, k)) for k in (1, 2)]
    late = submit(bob, unfusable(spec, 3))
    alice.app.state.dispatch.round()  # what the maintenance worker does when rung
    sent = alice.get(f"/experiments/{first}/position").json()
    assert sent["in_flight"] and sent["position"] is None
    assert sent["waiting_for"] == ["a worker to claim it"]
    # bob goes before alice's second: alice holds the slot
    assert bob.get(f"/experiments/{late}/position").json()["position"] == 1
    body = alice.get(f"/experiments/{queued[1]}/position").json()
    assert body["position"] == 3 and "worker slots" in body["waiting_for"]
    assert body["slots"] == 1 and body["busy_slots"] == 1


def test_submit_sends_only_what_the_free_slots_allow(make_client, spec):
    client = make_client(worker_slots=2)
    ids = [submit(client, unfusable(spec, k)) for k in range(3)]
    client.app.state.dispatch.round()  # what the maintenance worker does when rung
    shown = [client.get(f"/experiments/{i}").json()["dispatched_at"] is not None for i in ids]
    assert shown == [True, True, False]


# ----------------------------------------------------------------------------- first start
def test_the_first_start_creates_an_admin_key_file_once(engine, tmp_path, session_factory, caplog):
    data = tmp_path / "first"
    settings = ApiSettings(data_dir=data, rate_limit_per_s=0)
    with caplog.at_level("WARNING"), TestClient(create_app(settings, engine=engine)) as client:
        path = data / "admin.key"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        key = path.read_text().strip()
        assert client.get("/me", headers=bearer(key)).json()["role"] == "admin"
        assert client.get("/me").status_code == 401  # nothing is open by default
    assert sum("admin.key" in r.getMessage() for r in caplog.records) == 1
    assert key not in caplog.text
    with TestClient(create_app(settings, engine=engine)):
        assert path.read_text().strip() == key  # accounts exist: nothing new
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 1
        assert session.scalars(select(AuditEvent.action)).all() == ["create_user"]


def test_the_admin_key_folder_is_closed_to_other_users(engine, tmp_path):
    data = tmp_path / "open"
    data.mkdir(mode=0o777)
    os.chmod(data, 0o777)  # whatever the umask
    with TestClient(create_app(ApiSettings(data_dir=data, rate_limit_per_s=0), engine=engine)):
        assert stat.S_IMODE(os.stat(data / "admin.key").st_mode) == 0o600
        assert stat.S_IMODE(os.stat(data).st_mode) & 0o007 == 0


def test_a_key_lifetime_must_be_positive(session_factory, keys):
    with session_factory() as session:
        account = accounts.find_account("alice", session=session)
        for wrong in (timedelta(0), timedelta(days=-1)):
            with pytest.raises(accounts.AccountError, match="positive"):
                accounts.create_key(account, session=session, expires_in=wrong)


def test_no_admin_key_when_accounts_exist(engine, tmp_path, session_factory):
    create_users(session_factory, {"someone": "member"})
    settings = ApiSettings(data_dir=tmp_path / "d2")
    with TestClient(create_app(settings, engine=engine)):
        assert not (tmp_path / "d2" / "admin.key").exists()
