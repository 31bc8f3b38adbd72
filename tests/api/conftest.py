"""API fixtures: a TestClient over a real database (SQLite and PostgreSQL through `engine`) and a
real broker: by default the embedded SQLite broker in the test's folder.

Accounts: `keys` creates `root` (admin), `alice` and `bob` (members) with one key each;
`make_client(user="alice")` sends that user's key (user=None: no key). `client` is alice's."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api import accounts
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


USERS = {"root": "admin", "alice": "member", "bob": "member"}


def create_users(sessions: sessionmaker[Session], users: dict[str, str]) -> dict[str, str]:
    """Accounts with one key each: {name: role} -> {name: key}."""
    keys = {}
    with sessions() as session:
        for name, role in users.items():
            account = accounts.create_account(name, session=session, role=role)
            keys[name] = accounts.create_key(account, session=session)[1]
        session.commit()
    return keys


@pytest.fixture
def keys(session_factory: sessionmaker[Session]) -> dict[str, str]:
    return create_users(session_factory, USERS)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def make_client(
    engine: Engine, tmp_path: Path, keys: dict[str, str]
) -> Iterator[Callable[..., TestClient]]:
    """make_client(broker_url=None, user="alice", **settings) → a TestClient (closed after the
    test) sending `user`'s key. Rate limiting and the first-start admin are off unless asked."""
    clients: list[TestClient] = []

    def make(
        broker_url: str | None = None, user: str | None = "alice", **overrides: Any
    ) -> TestClient:
        overrides.setdefault("rate_limit_per_s", 0)
        overrides.setdefault("bootstrap_admin", False)
        settings = ApiSettings(data_dir=tmp_path / "data", broker_url=broker_url, **overrides)
        client = TestClient(
            create_app(settings, engine=engine), headers=bearer(keys[user]) if user else {}
        )
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def admin_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(user="root")
