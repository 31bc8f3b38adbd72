"""GET /experiments: filters, sort (NULLs last), keyset cursor pages."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from db.models import Experiment, ExperimentTag

SORTS = (
    "id",
    "created_at",
    "d",
    "test_mse",
    "final_median_abs_m",
    "weak_recovery_samples",
    "held_recovery_samples",
    "held_recovery_fraction",
    "wall_time_s",
)
STATUSES = ("queued", "running", "completed", "failed", "cancelled", "diverged")


def _maybe(rng: random.Random, values: list[float]) -> float | None:
    return None if rng.random() < 0.3 else rng.choice(values)


@pytest.fixture
def rows(session) -> list[dict]:
    """50 experiments with ties and NULLs in every sortable column."""
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = []
    for i in range(50):
        row = {
            "name": rng.choice(["Sweep A", "sweep b", "other", "100%_done"]) + f" #{i}",
            "owner": rng.choice(["alice", "bob"]),
            "status": STATUSES[i % len(STATUSES)],
            "target": rng.choice(["h3", "h3+h4", "h2"]),
            "algorithm": rng.choice(["reuse", "online"]),
            "d": rng.choice([8, 16, 32, 64]),
            "created_at": start + timedelta(minutes=rng.choice(range(20))),  # ties on purpose
            "test_mse": _maybe(rng, [0.1, 0.2, 0.5, 0.9]),
            "final_median_abs_m": _maybe(rng, [0.0, 0.3, 0.99]),
            "weak_recovery_samples": _maybe(rng, [1e3, 1e4, 2e4]),
            "held_recovery_samples": _maybe(rng, [2e3, 1e4, 3e4]),
            "held_recovery_fraction": _maybe(rng, [0.0, 0.5, 1.0]),
            "wall_time_s": _maybe(rng, [1.5, 60.0]),
        }
        tags = rng.sample(["fig1", "fig2", "smoke"], rng.randint(0, 2))
        experiment = Experiment(
            spec={},
            spec_hash="0" * 64,
            width=4,
            seeds=1,
            **row,
            tags=[ExperimentTag(tag=t) for t in tags],
        )
        session.add(experiment)
        session.flush()
        made.append({**row, "id": experiment.id, "tags": tags})
    session.commit()
    return made


def walk(client, limit: int, **params) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/experiments", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        pages += 1
        assert pages < 100
        if cursor is None:
            return items


def expected_order(rows: list[dict], key: str, descending: bool) -> list[int]:
    present = [r for r in rows if r[key] is not None]
    missing = [r for r in rows if r[key] is None]
    present.sort(key=lambda r: (r[key], r["id"]), reverse=descending)
    missing.sort(key=lambda r: r["id"], reverse=descending)
    return [r["id"] for r in present + missing]


@pytest.mark.parametrize("key", SORTS)
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_walking_every_page_gives_every_row_once_in_order_nulls_last(client, rows, key, descending):
    items = walk(client, 7, sort=("-" if descending else "") + key)
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)) == 50
    assert ids == expected_order(rows, key, descending)


def test_default_is_newest_id_first_with_the_default_page_size(make_client, rows):
    client = make_client(default_page_size=20)
    page = client.get("/experiments").json()
    assert [item["id"] for item in page["items"]] == sorted((r["id"] for r in rows), reverse=True)[
        :20
    ]
    assert page["next_cursor"]


@pytest.mark.parametrize(
    "params, keep",
    [
        ({"status": ["queued", "failed"]}, lambda r: r["status"] in ("queued", "failed")),
        ({"owner": "alice"}, lambda r: r["owner"] == "alice"),
        ({"tag": "fig1"}, lambda r: "fig1" in r["tags"]),
        ({"tag": ["fig1", "smoke"]}, lambda r: {"fig1", "smoke"} <= set(r["tags"])),
        ({"target": "h3+h4"}, lambda r: r["target"] == "h3+h4"),
        ({"algorithm": "online"}, lambda r: r["algorithm"] == "online"),
        ({"d_min": 16, "d_max": 32}, lambda r: 16 <= r["d"] <= 32),
        ({"name": "SWEEP"}, lambda r: "sweep" in r["name"].lower()),
        ({"name": "%_"}, lambda r: "%_" in r["name"]),  # LIKE wildcards are literal
        (
            {"held_recovery_samples_max": 1e4, "sort": "held_recovery_samples"},
            lambda r: r["held_recovery_samples"] is not None and r["held_recovery_samples"] <= 1e4,
        ),
        (
            {"held_recovery_fraction_min": 0.5},
            lambda r: (
                r["held_recovery_fraction"] is not None and r["held_recovery_fraction"] >= 0.5
            ),
        ),
        (
            {"owner": "bob", "algorithm": "reuse", "d_min": 16, "sort": "-test_mse"},
            lambda r: r["owner"] == "bob" and r["algorithm"] == "reuse" and r["d"] >= 16,
        ),
    ],
)
def test_filters(client, rows, params, keep):
    wanted = [r for r in rows if keep(r)]
    assert wanted, "the fixture should have rows for every filter"
    items = walk(client, 6, **params)
    assert sorted(item["id"] for item in items) == sorted(r["id"] for r in wanted)
    sort = params.get("sort", "-id")
    assert [i["id"] for i in items] == expected_order(
        wanted, sort.lstrip("-"), sort.startswith("-")
    )


def test_bad_sort_cursor_status_and_algorithm_are_client_errors(client, rows):
    bad_sort = client.get("/experiments", params={"sort": "spec"})
    assert bad_sort.status_code == 422 and bad_sort.json()["detail"][0]["loc"] == ["query", "sort"]
    message = bad_sort.json()["detail"][0]["msg"]  # the choices in words, not the schema's regex
    assert message.startswith("'spec' is not one of id, created_at") and "^" not in message
    assert client.get("/experiments", params={"cursor": "not-a-cursor"}).status_code == 400
    cursor = client.get("/experiments", params={"limit": 2, "sort": "d"}).json()["next_cursor"]
    wrong = client.get("/experiments", params={"sort": "test_mse", "cursor": cursor})
    assert wrong.status_code == 400 and "belongs to sort 'd'" in wrong.json()["detail"]
    assert client.get("/experiments", params={"status": "sleeping"}).status_code == 422
    assert client.get("/experiments", params={"limit": 0}).status_code == 422
    # the column holds an enum: an unknown algorithm is the caller's mistake, not an empty page
    bad = client.get("/experiments", params={"algorithm": "sgd"})
    assert bad.status_code == 422 and "algorithm" in bad.text


def test_page_size_is_capped(make_client, rows):
    client = make_client(max_page_size=10)
    assert len(client.get("/experiments", params={"limit": 1000}).json()["items"]) == 10
