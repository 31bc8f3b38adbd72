"""GET /experiments?sweep=…&spec=PATH=VALUE: filters in SQL over every row (not one page), the
same on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from db.models import Experiment, Sweep


def _spec(batch: int, lr: object, clip: float | None, hermite: dict[str, float]) -> dict:
    return {
        "d": 16,
        "target": {"hermite": hermite},
        "phase1": {
            "algorithm": "reuse",
            "batch_size": batch,
            "clip": clip,
            "stages": [{"samples": "40*d", "lr": lr}],
            "spherical": True,
        },
    }


@pytest.fixture
def stored(session) -> dict[str, int]:
    """A sweep of 3 experiments among 120 others, so a page of 50 holds only some matches."""
    sweep = Sweep(
        name="s",
        owner="alice",
        definition={},
        sweep_hash="1" * 64,
        axes=["d"],
        cells=3,
        experiments_total=3,
    )
    session.add(sweep)
    session.flush()
    for i in range(123):
        spec = _spec(
            batch=1 if i % 3 == 0 else 8,
            lr="0.3/d" if i % 2 else 0.001,
            clip=None if i % 5 == 0 else 1000.0,
            hermite={"3": 1.0} if i % 4 else {"3": 1.0, "4": 0.5},
        )
        session.add(
            Experiment(
                name=f"e{i}",
                owner="alice",
                spec=spec,
                spec_hash="0" * 64,
                target="h3",
                algorithm="reuse",
                d=16,
                width=4,
                seeds=1,
                sweep_id=sweep.id if i < 3 else None,
            )
        )
    session.commit()
    return {"sweep": sweep.id}


def _ids(client, **params) -> list[int]:
    response = client.get("/experiments", params={"limit": 50, **params})
    assert response.status_code == 200, response.text
    items, cursor = response.json()["items"], response.json()["next_cursor"]
    while cursor:
        page = client.get("/experiments", params={"limit": 50, "cursor": cursor, **params}).json()
        items += page["items"]
        cursor = page["next_cursor"]
    return [item["id"] for item in items]


def _names(client, **params) -> set[int]:
    response = client.get("/experiments", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return {int(item["name"][1:]) for item in response.json()["items"]}


def test_sweep_filter_finds_members_beyond_the_first_page(client, stored) -> None:
    # The members are the oldest rows: the newest-first first page holds none of them.
    first = client.get("/experiments", params={"limit": 50}).json()["items"]
    assert not {int(item["name"][1:]) for item in first} & {0, 1, 2}
    assert _names(client, sweep=stored["sweep"]) == {0, 1, 2}
    assert len(_ids(client, sweep=stored["sweep"])) == 3


def test_spec_number_matches_numerically(client, stored) -> None:
    expected = {i for i in range(123) if i % 3 == 0}
    assert _names(client, spec="phase1.batch_size=1") == expected
    assert _names(client, spec="phase1.batch_size=1.0") == expected
    assert _names(client, spec="phase1.clip=1e3") == {i for i in range(123) if i % 5}
    assert _names(client, spec="phase1.stages.0.lr=0.001") == {i for i in range(123) if i % 2 == 0}


def test_spec_text_and_several_filters(client, stored) -> None:
    odd = {i for i in range(123) if i % 2}
    assert _names(client, spec="phase1.stages.0.lr=0.3/d") == odd
    both = _names(client, spec=["phase1.stages.0.lr=0.3/d", "phase1.batch_size=8"])
    assert both == {i for i in odd if i % 3}
    assert _names(client, spec="phase1.algorithm=reuse") == set(range(123))
    assert _names(client, spec="phase1.spherical=true") == set(range(123))
    assert _names(client, spec="phase1.algorithm=online") == set()


def test_spec_path_alone_and_numeric_keys(client, stored) -> None:
    # A JSON null counts as present: every spec has phase1.clip, none has phase1.passes.
    assert _names(client, spec="phase1.clip") == set(range(123))
    assert _names(client, spec="phase1.passes") == set()
    assert _names(client, spec="target.hermite.4=0.5") == {i for i in range(123) if i % 4 == 0}
    assert _names(client, spec="target.hermite.4") == {i for i in range(123) if i % 4 == 0}


def test_a_bad_spec_path_is_a_422_naming_the_parameter(client, stored) -> None:
    response = client.get("/experiments", params={"spec": "phase1..lr=1"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "spec", 0]  # the first `spec`
    injection = client.get("/experiments", params={"spec": "d'||'x=1"})
    assert injection.status_code == 422
