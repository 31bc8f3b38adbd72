"""The embedded SQLite broker is polled at SILAB_BROKER_POLL_S, not kombu's fixed second."""

from __future__ import annotations

import time
from pathlib import Path

from worker.app import make_app
from worker.config import WorkerSettings
from worker.polling_transport import celery_broker


def test_an_sqlalchemy_broker_gets_the_polling_transport_and_loses_its_prefix() -> None:
    url, transport = celery_broker("sqla+sqlite:////tmp/x/broker.db", 0.02)
    assert url == "sqlite:////tmp/x/broker.db"
    assert transport is not None and transport.polling_interval == 0.02


def test_other_brokers_are_left_to_kombu() -> None:
    assert celery_broker("redis://127.0.0.1:6379/3", 0.02) == ("redis://127.0.0.1:6379/3", None)


def test_the_worker_polls_the_sqlite_broker_at_the_setting(tmp_path: Path) -> None:
    app = make_app(WorkerSettings(data_dir=tmp_path, broker_poll_s=0.03))
    with app.connection_for_write() as connection:
        assert connection.transport.polling_interval == 0.03
        # A message round-trips through the broker file, so the URL without its prefix still
        # reaches create_engine as an SQLite URL.
        queue = connection.SimpleQueue("silab.test.poll")
        queue.put({"ring": 1})
        started = time.monotonic()
        message = queue.get(timeout=30)
        assert message.payload == {"ring": 1}, f"after {time.monotonic() - started:.2f} s"
        message.ack()
        queue.close()
    assert (tmp_path / "broker.db").is_file()
