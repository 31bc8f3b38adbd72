"""GET /experiments at 10^5 rows: keyset pages walk deep, in order, without repeating a row.

That each of these queries is served by an index (so a deep page costs what the first does) is
checked by EXPLAIN in test_list_indexes.py; this file holds no timing assertion."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from db.models import Experiment, ExperimentTag

ROWS = 100_000


@pytest.mark.slow
def test_pages_stay_fast_with_100k_rows(client, engine):
    rng = random.Random(3)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(Experiment),
            [
                {
                    "name": f"exp {i}",
                    "owner": rng.choice("abc"),
                    "priority": 0,
                    "status": rng.choice(["queued", "running", "completed", "failed"]),
                    "spec": {},
                    "spec_hash": "0" * 64,
                    "target": rng.choice(["h3", "h2", "h3+h4"]),
                    "algorithm": rng.choice(["reuse", "online"]),
                    "d": rng.choice([8, 32, 128]),
                    "width": 4,
                    "seeds": 1,
                    "attempt": 0,
                    "max_attempts": 3,
                    "cancel_requested": False,
                    "samples_done": 0,
                    "samples_total": 0,
                    "created_at": start + timedelta(seconds=i),
                    "updated_at": start,
                    "test_mse": None if rng.random() < 0.3 else rng.random(),
                }
                for i in range(ROWS)
            ],
        )
        ids = connection.scalars(select(Experiment.id)).all()
        connection.execute(
            insert(ExperimentTag), [{"experiment_id": i, "tag": f"t{i % 50}"} for i in ids]
        )

    def walk(pages: int, **params) -> list[dict]:
        rows, cursor = [], None
        for _ in range(pages):
            response = client.get(
                "/experiments",
                params={**params, "limit": 50, **({"cursor": cursor} if cursor else {})},
            )
            assert response.status_code == 200, response.text
            rows.extend(response.json()["items"])
            cursor = response.json()["next_cursor"]
            assert cursor, (params, len(rows))
        return rows

    for params in (
        {},
        {"sort": "-test_mse"},
        {"status": "completed", "sort": "test_mse"},
        {"tag": "t7", "d_min": 32},
        {"sort": "created_at", "target": "h3"},
    ):
        rows = walk(10, **params)
        ids = [row["id"] for row in rows]
        assert len(ids) == len(set(ids)) == 500, params
        key = params.get("sort", "-id").lstrip("-")
        if key != "test_mse":  # NULLs sort last in both directions
            values = [row[key] for row in rows]
            descending = params.get("sort", "-id").startswith("-")
            assert values == sorted(values, reverse=descending), params
