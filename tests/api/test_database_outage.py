"""A request that cannot reach the database is a 503 with Retry-After, never a 500: the API is
pointed at a real PostgreSQL URL on a port where no server listens (a stopped server)."""

from __future__ import annotations

import socket
import sqlite3

import pytest
from conftest import bearer, tiny_spec
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from api.config import ApiSettings
from api.main import create_app
from api.services import submissions
from db.config import DbSettings
from db.session import make_engine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def down_client(tmp_path):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/test"
    engine = make_engine(DbSettings(database_url=url, connect_timeout_s=1))
    settings = ApiSettings(
        data_dir=tmp_path, bootstrap_admin=False, rate_limit_per_s=0, unavailable_retry_after_s=7
    )
    with TestClient(create_app(settings, engine=engine), headers=bearer("silab_x")) as client:
        yield client
    engine.dispose()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/experiments", None),
        ("GET", "/experiments/1", None),
        ("POST", "/experiments", {"spec": tiny_spec()}),
        ("GET", "/sweeps", None),
        ("GET", "/me", None),
    ],
)
def test_an_unreachable_database_is_a_503_with_retry_after(down_client, method, path, body):
    response = down_client.request(method, path, json=body)
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "7"
    assert "database is unavailable" in response.json()["detail"]


def test_liveness_needs_no_database_and_readiness_says_503(down_client):
    assert down_client.get("/health").status_code == 200
    assert down_client.get("/ready").status_code == 503


class _SqliteFull(sqlite3.OperationalError):
    sqlite_errorcode = sqlite3.SQLITE_FULL


class _PostgresDiskFull(Exception):
    sqlstate = "53100"  # psycopg.errors.DiskFull


@pytest.mark.parametrize(
    "driver_error", [_SqliteFull("database or disk is full"), _PostgresDiskFull("disk full")]
)
def test_a_full_disk_is_a_507_that_says_so_and_that_nothing_was_stored(
    make_client, driver_error, monkeypatch
):
    # The write itself fails in the driver (the chaos suite fills a real disk:
    # tests/chaos/test_disk_full.py); here the service's write raises what SQLAlchemy raises.
    def full(*args, **kwargs):
        raise OperationalError("INSERT INTO experiment ...", {}, driver_error)

    monkeypatch.setattr(submissions, "submit", full)
    response = make_client().post("/experiments", json={"spec": tiny_spec()})
    assert response.status_code == 507, response.text
    assert "disk is full" in response.json()["detail"]
    assert "nothing of this request was stored" in response.json()["detail"]
    assert response.headers["Retry-After"]
