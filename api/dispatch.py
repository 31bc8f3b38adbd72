"""After a change to the queue (submit, retry, bulk submit) the API rings the doorbell: one
`silab.maintain(reap=False)` message to the maintenance worker, which runs a round of the fair
dispatcher (db.scheduler). The request does no dispatch work and takes no lock; rounds are
serialized in the maintenance worker (concurrency 1, plus the advisory lock). A broker that is
down leaves everything for beat's periodic round."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from api.broker import Broker
from api.config import ApiSettings
from db import scheduler


@dataclass(frozen=True)
class Dispatcher:
    """Callable: rings the doorbell; True when the broker took the ring."""

    sessions: sessionmaker[Session]
    broker: Broker
    settings: ApiSettings

    def __call__(self) -> bool:
        return self.broker.ring()

    def round(self) -> list[int]:
        """One dispatcher round right here, in its own session (what the maintenance worker does
        when rung; for tools and tests that run without one). Returns the ids it sent."""

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
