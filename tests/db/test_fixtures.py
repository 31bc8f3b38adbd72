"""The shared fixtures of tests/conftest.py do what their documentation says."""

from __future__ import annotations

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Experiment


def test_redis_url_is_reachable_and_starts_empty(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.dbsize() == 0
        client.set("silab-test", "1")
    finally:
        client.close()


def test_each_test_starts_with_empty_tables_first(session: Session, make_experiment) -> None:
    assert session.scalar(select(func.count()).select_from(Experiment)) == 0
    make_experiment()


def test_each_test_starts_with_empty_tables_second(session: Session, make_experiment) -> None:
    assert session.scalar(select(func.count()).select_from(Experiment)) == 0
    make_experiment()
