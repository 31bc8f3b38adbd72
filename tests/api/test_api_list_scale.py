"""GET /experiments stays fast at 10^5 rows: keyset pages cost the same deep as at the start."""

from __future__ import annotations

import random
import statistics
import time
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

    def timed_walk(pages: int, **params) -> list[float]:
        times, cursor = [], None
        for _ in range(pages):
            began = time.perf_counter()
            response = client.get(
                "/experiments",
                params={**params, "limit": 50, **({"cursor": cursor} if cursor else {})},
            )
            times.append(time.perf_counter() - began)
            assert response.status_code == 200
            cursor = response.json()["next_cursor"]
        return times

    client.get("/experiments")  # warm up
    for params in (
        {},
        {"sort": "-test_mse"},
        {"status": "completed", "sort": "test_mse"},
        {"tag": "t7", "d_min": 32},
        {"sort": "created_at", "target": "h3"},
    ):
        times = timed_walk(10, **params)
        # generous: typical pages take 10-60 ms here, OFFSET-deep or unindexed scans far more
        assert statistics.median(times) < 0.5, (params, times)
