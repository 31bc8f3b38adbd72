"""One round of the fair dispatcher (db.scheduler), run by the API right after a change to the
queue: free worker slots go to whoever's turn it is, not necessarily to the experiment just
submitted. A broker that is down leaves everything for the worker's periodic dispatcher."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from api.broker import Broker
from api.config import ApiSettings
from db import scheduler


@dataclass(frozen=True)
class Dispatcher:
    """Callable: runs a round in its own session and returns the ids it sent."""

    sessions: sessionmaker[Session]
    broker: Broker
    settings: ApiSettings

    def __call__(self) -> list[int]:
        def send(experiment_ids: list[int]) -> None:  # one fused group (db.scheduler)
            if not self.broker.send_group(experiment_ids):
                raise ConnectionError(f"the broker did not take experiments {experiment_ids}")

        sent, _ = scheduler.dispatch_round(
            self.sessions,
            send,
            slots=self.settings.worker_slots,
            default_max_running=self.settings.default_max_running,
            resend_after_s=self.settings.resend_after_s,
        )
        return sent
