"""A minimal Celery producer: sends `silab.run_experiment(id)` by name. It imports no task code
(the worker owns the tasks), so the API needs nothing of worker/ and never imports torch.

The broker only rings the bell: a failed send is logged and reported as False, the experiment
stays queued with `dispatched_at` NULL, and the worker's dispatcher sends it later.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from celery import Celery
from kombu import Queue
from sqlalchemy.engine import make_url

from api.config import ApiSettings
from db.messages import (
    MAINTAIN,
    QUEUES,
    RING_EXPIRES_S,
    ROUTES,
    RUN_EXPERIMENT,
    RUN_GROUP,
    RUN_QUEUE,
)

log = logging.getLogger(__name__)


class Broker:
    def __init__(self, url: str, *, timeout_s: float = 2.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        _make_sqlite_folder(url)
        transport_options: dict[str, object] = {}
        if url.split(":", 1)[0] in ("redis", "rediss"):
            transport_options = {
                "socket_connect_timeout": timeout_s,
                "socket_timeout": timeout_s,
                "max_retries": 0,
            }
        self.app = Celery("silab-api", broker=url, set_as_current=False)
        self.app.conf.update(
            broker_connection_timeout=timeout_s,
            broker_connection_retry=False,
            broker_connection_retry_on_startup=False,
            broker_connection_max_retries=0,
            broker_transport_options=transport_options,
            task_ignore_result=True,
            result_backend=None,
            # Routed as worker.app routes (db.messages), so a ring lands where the maintenance
            # worker listens.
            task_default_queue=RUN_QUEUE,
            task_queues=[Queue(name) for name in QUEUES],
            task_routes=ROUTES,
        )

    def send_run(self, experiment_id: int) -> bool:
        """Send `silab.run_experiment(experiment_id)`; True when the broker accepted it."""
        try:
            self.app.send_task(RUN_EXPERIMENT, args=[experiment_id], retry=False)
        except Exception:
            log.warning(
                "broker %s did not take experiment %s; the dispatcher will resend it",
                _redacted(self.url),
                experiment_id,
                exc_info=True,
            )
            return False
        return True

    def ring(self) -> bool:
        """Ask the maintenance worker for a dispatcher round (`silab.maintain(reap=False)`);
        True when the broker took the message. Cheap and lock-free: the round itself runs in
        the maintenance worker, one at a time, and takes everything queued since the last."""
        try:
            self.app.send_task(
                MAINTAIN, kwargs={"reap": False}, expires=RING_EXPIRES_S, retry=False
            )
        except Exception:
            log.warning(
                "broker %s did not take the doorbell; beat's round will dispatch",
                _redacted(self.url),
                exc_info=True,
            )
            return False
        return True

    def send_group(self, experiment_ids: list[int]) -> bool:
        """Send `silab.run_group(experiment_ids)` (one fused group, one worker slot); True when
        the broker accepted it."""
        try:
            self.app.send_task(RUN_GROUP, args=[list(experiment_ids)], retry=False)
        except Exception:
            log.warning(
                "broker %s did not take experiments %s; the dispatcher will resend them",
                _redacted(self.url),
                experiment_ids,
                exc_info=True,
            )
            return False
        return True

    def ping(self) -> str | None:
        """None when the broker answers within the timeout, else why not."""
        outcome: list[str | None] = []

        def connect() -> None:
            try:
                with self.app.connection_for_write() as connection:
                    connection.ensure_connection(
                        max_retries=0, timeout=self.timeout_s, interval_start=0
                    )
                outcome.append(None)
            except Exception as error:  # noqa: BLE001
                outcome.append(f"{type(error).__name__}: {error}")

        thread = threading.Thread(target=connect, name="silab-broker-ping", daemon=True)
        thread.start()
        thread.join(self.timeout_s + 0.5)
        if not outcome:
            return f"no answer within {self.timeout_s:g} s"
        return outcome[0]

    def close(self) -> None:
        self.app.close()


def make_broker(settings: ApiSettings) -> Broker:
    return Broker(settings.broker, timeout_s=settings.broker_timeout_s)


def _make_sqlite_folder(url: str) -> None:
    """The embedded default broker is an SQLite file: create its folder."""
    if not url.startswith("sqla+sqlite"):
        return
    database = make_url(url.removeprefix("sqla+")).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _redacted(url: str) -> str:
    try:
        return make_url(url.removeprefix("sqla+")).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url.split("@")[-1]
