"""API fixtures: a TestClient over a real database (SQLite and PostgreSQL through `engine`) and a
real broker: by default the embedded SQLite broker in the test's folder."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.config import ApiSettings
from api.main import create_app
from trainer.spec import parse_text

ROOT = Path(__file__).resolve().parents[2]
# Nothing listens here: a real, unreachable broker.
DEAD_BROKER = "redis://127.0.0.1:6390/0"


def tiny_spec() -> dict[str, Any]:
    """The `tiny` preset: d = 8, 2 seeds, h3 target, reuse."""
    return parse_text((ROOT / "trainer" / "presets" / "tiny.yaml").read_text())


@pytest.fixture
def spec() -> dict[str, Any]:
    return copy.deepcopy(tiny_spec())


@pytest.fixture
def make_client(engine: Engine, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """make_client(broker_url=None, **settings) → a TestClient (closed after the test)."""
    clients: list[TestClient] = []

    def make(broker_url: str | None = None, **overrides: Any) -> TestClient:
        settings = ApiSettings(data_dir=tmp_path / "data", broker_url=broker_url, **overrides)
        client = TestClient(create_app(settings, engine=engine))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
