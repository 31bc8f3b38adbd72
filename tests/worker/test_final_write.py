"""The final write of a run is retried while the database is unreachable and only then: a dead
PostgreSQL port is retried with backoff until the time is up, a refused write (the attempt lost
the experiment) and a bug in the write are answered at once. The chaos suite
(tests/chaos) shows the same write landing after a real outage."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from db.config import DbSettings
from db.session import make_engine, make_sessionmaker
from worker import final_write


def _dead_sessions():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"
    return make_sessionmaker(make_engine(DbSettings(database_url=url, connect_timeout_s=1)))


def test_an_unreachable_database_is_retried_until_the_time_is_up(caplog):
    tries = []

    def write(session):
        tries.append(1)
        session.execute(text("SELECT 1"))
        return True

    with pytest.raises(OperationalError):
        final_write.land(write, sessions=_dead_sessions(), what="test", retry_for_s=1.0)
    assert len(tries) >= 3  # 0.2 s, 0.4 s, … between tries
    assert "database unreachable (try 2)" in caplog.text


def test_a_refused_write_and_a_bug_are_not_retried(session_factory):
    calls = []

    def refused(session):
        calls.append("refused")
        return False

    def bug(session):
        calls.append("bug")
        raise ValueError("not a database problem")

    assert final_write.land(refused, sessions=session_factory, what="t", retry_for_s=30) is False
    with pytest.raises(ValueError):
        final_write.land(bug, sessions=session_factory, what="t", retry_for_s=30)
    assert calls == ["refused", "bug"]
