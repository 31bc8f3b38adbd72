"""POST /experiments:batch on both databases: all stored in one transaction with tags and audit
records, or nothing; a 422 names each broken item and field; the batch counts against the
queued limit as a whole; its body has its own size limit."""

from __future__ import annotations

import copy
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from db.models import AuditEvent, Experiment, ExperimentTag

BATCH = "/experiments:batch"


def items(spec, n: int, **fields):
    out = []
    for i in range(n):
        one = copy.deepcopy(spec)
        one["seeds"] = [i]
        out.append({"name": f"item {i}", "spec": one, **fields})
    return out


def stored(session) -> tuple[int, int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Experiment)),
        session.scalar(select(func.count()).select_from(ExperimentTag)),
        session.scalar(select(func.count()).select_from(AuditEvent)),
    )


def test_a_batch_is_stored_whole_in_item_order_with_tags_and_audit(client, session, spec):
    response = client.post(BATCH, json={"items": items(spec, 50, tags=["bulk", "h3"])})
    assert response.status_code == 201, response.text
    ids = response.json()["ids"]
    assert response.json()["count"] == 50 and ids == sorted(ids)
    assert stored(session) == (50, 100, 50)
    for position in (0, 49):
        shown = client.get(f"/experiments/{ids[position]}").json()
        assert shown["name"] == f"item {position}" and shown["spec"]["seeds"] == [position]
        assert shown["status"] == "queued" and shown["tags"] == ["bulk", "h3"]
        assert shown["owner"] == "alice" and shown["width"] > 0 and shown["samples_total"] > 0
    single = client.post("/experiments", json={"spec": items(spec, 1)[0]["spec"]}).json()
    first = client.get(f"/experiments/{ids[0]}").json()
    for column in ("spec_hash", "target", "algorithm", "d", "width", "seeds", "samples_total"):
        assert first[column] == single[column], column  # the same row as a single submit's
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert {e.action for e in events} == {"submit"} and events[0].experiment_id == ids[0]
    assert events[0].detail["batch"] == 50


def test_a_422_names_every_broken_item_and_field_and_stores_nothing(make_client, session, spec):
    client = make_client(max_trace_points=30)
    batch = items(spec, 6)
    batch[2]["spec"]["d"] = -1
    batch[4]["priority"] = "urgent"
    batch[5]["spec"]["eval"] = {"every": 1, "points": 4, "test_samples": 64}  # too many points
    response = client.post(BATCH, json={"items": batch})
    assert response.status_code == 422, response.text
    locs = [issue["loc"][:5] for issue in response.json()["detail"]]
    assert ["body", "items", 2, "spec", "d"] in locs
    assert any(loc[:4] == ["body", "items", 4, "priority"] for loc in locs)
    assert stored(session) == (0, 0, 0)
    # the schema's checks passed: the server's own limits are checked for every item too
    batch[2]["spec"]["d"], batch[4]["priority"] = spec["d"], "high"
    response = client.post(BATCH, json={"items": batch})
    assert response.status_code == 422
    assert [i["loc"] for i in response.json()["detail"]] == [
        ["body", "items", 5, "spec", "eval", "every"]
    ]
    assert "SILAB_MAX_TRACE_POINTS" in response.json()["detail"][0]["msg"]
    assert stored(session) == (0, 0, 0)


def test_a_batch_counts_against_the_queued_limit_whole(make_client, session, spec):
    client = make_client(default_max_queued=10)
    assert client.post(BATCH, json={"items": items(spec, 8)}).status_code == 201
    over = client.post(BATCH, json={"items": items(spec, 3)})
    assert over.status_code == 429 and "1 over" in over.json()["detail"]
    assert stored(session)[0] == 8
    assert client.post(BATCH, json={"items": items(spec, 2)}).status_code == 201


def test_batch_size_and_body_limits(make_client, spec):
    client = make_client(max_batch=3, max_request_bytes=2_000, max_batch_bytes=200_000)
    assert client.post(BATCH, json={"items": []}).status_code == 422
    too_many = client.post(BATCH, json={"items": items(spec, 4)})
    assert too_many.status_code == 422 and "SILAB_MAX_BATCH" in too_many.json()["detail"][0]["msg"]
    # the batch route's body may be larger than any other route's
    assert client.post(BATCH, json={"items": items(spec, 3)}).status_code == 201
    assert (
        client.post("/experiments", json=items(spec, 3)[0] | {"name": "x" * 3000}).status_code
        == 413
    )
    huge = {"items": items(spec, 3, name="y" * 100_000)}
    assert client.post(BATCH, json=huge).status_code == 413


def test_a_thousand_specs_in_one_request(client, session, spec):
    """Not a benchmark (bench/ has those): a size the route is for goes through, and says how
    long it took, for the record."""
    started = time.perf_counter()
    response = client.post(BATCH, json={"items": items(spec, 1000)})
    took = time.perf_counter() - started
    assert response.status_code == 201, response.text[:500]
    assert stored(session) == (1000, 0, 1000)
    print(f"1000 specs in {took:.2f} s: {1000 / took:.0f}/s")


def test_parallel_batches_get_distinct_ids(make_client, session, spec):
    """The ids are taken before the insert (api.crud._new_ids): batches at once, with no
    queued limit to serialize them, still get every id once and their own rows."""
    client = make_client(default_max_queued=None)
    barrier = threading.Barrier(8)

    def submit(k: int) -> list[int]:
        barrier.wait()
        response = client.post(BATCH, json={"items": items(spec, 20, tags=[f"b{k}"])})
        assert response.status_code == 201, response.text
        return response.json()["ids"]

    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(submit, range(8)))
    every = [i for ids in batches for i in ids]
    assert len(set(every)) == 160 and stored(session)[0] == 160
    for k, ids in enumerate(batches):
        tagged = session.scalars(
            select(ExperimentTag.experiment_id).where(ExperimentTag.tag == f"b{k}")
        )
        assert sorted(tagged) == sorted(ids)


def test_equal_specs_are_validated_once_and_every_broken_item_is_still_named(
    make_client, session, spec
):
    """Items with equal specs share one validation (api.schemas.ExperimentBatchCreate); the
    ones whose shared spec is broken are each named, by the schema and by the server's limits."""
    client = make_client(max_trace_points=30)
    broken = copy.deepcopy(spec) | {"d": -1}
    heavy = copy.deepcopy(spec) | {"eval": {"every": 1, "points": 4, "test_samples": 64}}
    batch = [{"spec": s} for s in (spec, broken, spec, broken)]
    response = client.post(BATCH, json={"items": batch})
    assert response.status_code == 422, response.text
    locs = [issue["loc"][:5] for issue in response.json()["detail"]]
    assert locs == [["body", "items", i, "spec", "d"] for i in (1, 3)]
    # the schema's checks pass: the server's limits, once per spec, name every item too
    batch = [{"spec": s} for s in (heavy, spec, heavy)]
    response = client.post(BATCH, json={"items": batch})
    assert response.status_code == 422, response.text
    assert [issue["loc"] for issue in response.json()["detail"]] == [
        ["body", "items", i, "spec", "eval", "every"] for i in (0, 2)
    ]
    assert stored(session) == (0, 0, 0)
    response = client.post(
        BATCH, json={"items": [{"spec": spec, "name": f"n{i}"} for i in range(5)]}
    )
    assert response.status_code == 201, response.text
    rows = session.scalars(select(Experiment).order_by(Experiment.id)).all()
    assert [r.name for r in rows] == [f"n{i}" for i in range(5)]
    assert len({(str(r.spec), r.spec_hash, r.shape_key, r.trace_points) for r in rows}) == 1
