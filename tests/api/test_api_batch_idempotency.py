"""POST /experiments:batch with an Idempotency-Key: a batch sent again after a lost answer gets
the first request's ids back and stores nothing twice; the same key with another batch is 409."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select
from test_api_batch import BATCH, items, stored

from db.models import Experiment


def test_the_same_key_and_batch_replay_the_first_ids(client, session, spec):
    headers = {"Idempotency-Key": "nightly-2026-12-01"}
    body = {"items": items(spec, 20, tags=["bulk"])}
    first = client.post(BATCH, json=body, headers=headers)
    again = client.post(BATCH, json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert stored(session) == (20, 20, 20)  # experiments, tags, audit events: once


def test_the_same_key_with_another_batch_is_a_409(client, session, spec):
    headers = {"Idempotency-Key": "k1"}
    assert client.post(BATCH, json={"items": items(spec, 3)}, headers=headers).status_code == 201
    other = client.post(BATCH, json={"items": items(spec, 4)}, headers=headers)
    assert other.status_code == 409 and "different batch" in other.json()["detail"]
    assert session.scalar(select(func.count()).select_from(Experiment)) == 3


def test_a_key_too_long_for_its_item_rows_is_a_422(client, spec):
    response = client.post(
        BATCH, json={"items": items(spec, 1)}, headers={"Idempotency-Key": "k" * 191}
    )
    assert response.status_code == 422 and "idempotency-key" in response.text.lower()


def test_concurrent_resends_store_the_batch_once(make_client, session, spec):
    clients = [make_client() for _ in range(4)]
    body = {"items": items(spec, 30)}

    def send(client):
        return client.post(BATCH, json=body, headers={"Idempotency-Key": "race"})

    with ThreadPoolExecutor(len(clients)) as pool:
        answers = list(pool.map(send, clients))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({tuple(a.json()["ids"]) for a in answers}) == 1
    assert session.scalar(select(func.count()).select_from(Experiment)) == 30
