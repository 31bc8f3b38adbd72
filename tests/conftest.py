"""Shared fixtures: real databases (SQLite and PostgreSQL) and a real Redis.

Databases (the schema is always built by `alembic upgrade head`, never by create_all):
    sqlite_url      str  URL of a migrated SQLite file (WAL), emptied before the test.
    postgres_url    str  URL of a migrated PostgreSQL database, emptied before the test.
                         One database `silab_test_<random>` per test session on 127.0.0.1:5432
                         (user postgres, created from database `test`), dropped at the end.
                         Marked `postgres`.
    db_url          str  Parametrized over both: [sqlite] and [postgres]. Use it (or `engine` /
                         `session`, which follow it) for anything that must work on both.
    engine          Engine        db.session.make_engine for `db_url` (one per backend and
                                  test session; do not dispose it).
    session_factory sessionmaker  db.session.make_sessionmaker(engine).
    session         Session       A session from it, closed after the test. The caller commits.
    make_experiment      make_experiment(**columns) -> id: inserts and commits a queued
                         experiment in the `db_url` database (plausible defaults, overridable).
    empty_db_url    str  Parametrized over both: a database WITHOUT any schema, fresh per test
                         (for migration tests).
Tables are emptied (not dropped) BEFORE each test that asks for one of the database fixtures, so a
failed test leaves its rows for inspection and the next test still starts clean. Subprocesses
(API, worker) can be pointed at a database with SILAB_DATABASE_URL=<the url>.

Redis:
    redis_url       str  redis://127.0.0.1:6379/<n>: one logical database chosen per test session
                         (SILAB_TEST_REDIS_DB, or a random one in 1..15), flushed before each test.
                         Marked `redis`.

Services: when PostgreSQL or Redis does not answer, tests that need it are SKIPPED locally and
FAIL when CI=true (read through `TestEnvironment`, the only place tests read the environment).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from db import usage
from db.base import Base
from db.config import DbSettings
from db.models import Experiment, Status
from db.session import make_engine, make_sessionmaker

ROOT = Path(__file__).resolve().parent.parent


class TestEnvironment(BaseSettings):
    """What the tests read from the environment."""

    __test__ = False  # not a test class, whatever pytest thinks of the name
    model_config = SettingsConfigDict(env_prefix="SILAB_TEST_", extra="ignore")

    # CI=true: a missing service is a failure, not a skip.
    ci: bool = Field(default=False, validation_alias="CI")
    # A database the test user can connect to and create databases from.
    postgres_admin_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    redis_server_url: str = "redis://127.0.0.1:6379"
    redis_db: int | None = None


TEST_ENV = TestEnvironment()


def service_unavailable(what: str, error: BaseException) -> None:
    """Skip the test (locally) or fail it (CI=true) because a service does not answer."""
    message = f"{what} is not reachable: {type(error).__name__}: {error}"
    if TEST_ENV.ci:
        pytest.fail(f"{message} (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(message)


def alembic_config() -> Config:
    return Config(str(ROOT / "alembic.ini"))


def alembic_upgrade(url: str, revision: str = "head") -> None:
    """Run `alembic upgrade <revision>` against `url` through migrations/env.py."""
    _alembic(url, lambda cfg: command.upgrade(cfg, revision))


def alembic_downgrade(url: str, revision: str = "base") -> None:
    _alembic(url, lambda cfg: command.downgrade(cfg, revision))


def _alembic(url: str, run: Callable[[Config], None]) -> None:
    engine = make_engine(DbSettings(database_url=url))
    try:
        with engine.begin() as connection:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            run(cfg)
    finally:
        engine.dispose()


def empty_tables(engine: Engine) -> None:
    """Delete every row of our tables (the schema and alembic_version stay). DELETE rather than
    TRUNCATE: on tables this small it is several times faster; ids are not reset."""
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


# ---------------------------------------------------------------------------------------------
# PostgreSQL


class _PostgresServer:
    """Creates and drops uniquely named databases on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def ping(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text("SELECT 1"))

    def create_database(self, prefix: str = "silab_test") -> str:
        name = f"{prefix}_{secrets.token_hex(4)}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as connection:
            for name in self.created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.created.clear()
        self.admin.dispose()


@pytest.fixture(scope="session")
def _postgres_server() -> Iterator[_PostgresServer | BaseException]:
    server = _PostgresServer(TEST_ENV.postgres_admin_url)
    try:
        server.ping()
    except Exception as error:  # noqa: BLE001 (any failure to connect means "not available")
        server.admin.dispose()
        yield error
        return
    try:
        yield server
    finally:
        server.drop_all()


def _server(server: _PostgresServer | BaseException) -> _PostgresServer:
    if isinstance(server, BaseException):
        service_unavailable("PostgreSQL", server)
    assert isinstance(server, _PostgresServer)
    return server


@pytest.fixture(scope="session")
def _postgres_migrated(_postgres_server: _PostgresServer | BaseException) -> str:
    url = _server(_postgres_server).create_database()
    alembic_upgrade(url)
    return url


# ---------------------------------------------------------------------------------------------
# SQLite


@pytest.fixture(scope="session")
def _sqlite_migrated(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "silab.db"
    url = f"sqlite:///{path}"
    alembic_upgrade(url)
    return url


# ---------------------------------------------------------------------------------------------
# Engines (one per migrated database and test session) and the public URL fixtures


_ENGINES: dict[str, Engine] = {}


def _engine_for(url: str) -> Engine:
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(DbSettings(database_url=url))
    return _ENGINES[url]


@pytest.fixture(scope="session", autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


@pytest.fixture
def sqlite_url(_sqlite_migrated: str) -> str:
    empty_tables(_engine_for(_sqlite_migrated))
    return _sqlite_migrated


@pytest.fixture
def postgres_url(_postgres_migrated: str) -> str:
    empty_tables(_engine_for(_postgres_migrated))
    return _postgres_migrated


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def engine(db_url: str) -> Engine:
    return _engine_for(db_url)


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    server = _server(request.getfixturevalue("_postgres_server"))
    return server.create_database("silab_test_empty")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos-results", default=None, help="write the chaos suite's figures to this JSON file"
    )
    parser.addoption(
        "--schema-fuzz-results",
        default=None,
        help="write the schemathesis run's counts to this JSON file (one entry per database)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses postgres_url directly is a `postgres` test (db_url marks its own param)."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "postgres_url" in fixtures and "db_url" not in fixtures:
            item.add_marker(pytest.mark.postgres)
        if "redis_url" in fixtures:
            item.add_marker(pytest.mark.redis)


# ---------------------------------------------------------------------------------------------
# Redis


@pytest.fixture(scope="session")
def _redis_server() -> str | BaseException:
    import redis

    db = TEST_ENV.redis_db if TEST_ENV.redis_db is not None else 1 + secrets.randbelow(15)
    url = f"{TEST_ENV.redis_server_url.rstrip('/')}/{db}"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as error:  # noqa: BLE001
        return error
    return url


@pytest.fixture
def redis_url(_redis_server: str | BaseException) -> str:
    if isinstance(_redis_server, BaseException):
        service_unavailable("Redis", _redis_server)
    assert isinstance(_redis_server, str)
    import redis

    client = redis.Redis.from_url(_redis_server)
    try:
        client.flushdb()
    finally:
        client.close()
    return _redis_server


# ---------------------------------------------------------------------------------------------
# Rows


@pytest.fixture
def make_experiment(session_factory: sessionmaker[Session]) -> Callable[..., int]:
    """make_experiment(**columns) -> id: insert (and commit) a queued experiment with plausible
    defaults for every required column; keyword arguments override them. Its owner's trace
    usage and queued count it, as an insert by the API does (db.usage)."""

    def make(**columns: object) -> int:
        values: dict[str, object] = {
            "name": "test",
            "owner": "alice",
            "spec": {"target": "h3", "d": 16, "width": 8, "seeds": 2},
            "spec_hash": "0" * 64,
            "target": "h3",
            "algorithm": "reuse",
            "d": 16,
            "width": 8,
            "seeds": 2,
            "samples_total": 1000,
        }
        values.update(columns)
        with session_factory() as session:
            experiment = Experiment(**values)
            session.add(experiment)
            session.flush()
            queued = int(experiment.status == Status.queued)
            usage.charge(experiment.owner, queued=queued, session=session)
            usage.recharge([experiment.id], session=session)
            session.commit()
            return experiment.id

    return make
