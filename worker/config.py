"""Worker settings. The only place worker/ reads the environment (what the API reads too is
db.config.LabSettings', which WorkerSettings extends)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from db.config import LabSettings


class WorkerSettings(LabSettings):
    """SILAB_* variables of a worker (and of its embedded beat).

    The lease is what keeps an attempt alive: a heartbeat extends it every `heartbeat_seconds`,
    and the reaper requeues an experiment whose lease ran out (its worker died). Checkpoints are
    what such a requeued attempt resumes from.
    """

    lease_seconds: float = Field(60.0, gt=0)
    heartbeat_seconds: float = Field(5.0, gt=0)
    checkpoint_seconds: float = Field(30.0, gt=0)
    # Retry a run's final write this long while the database is unreachable.
    final_write_retry_s: float = Field(900.0, gt=0)
    # 'auto' (the spec's device, else CUDA when present).
    device: str = "auto"
    # An SQLAlchemy broker (the embedded SQLite one) is polled this often
    # (worker/polling_transport.py); Redis pushes and ignores it.
    broker_poll_s: float = Field(0.05, gt=0, le=5)
    # Beat: how often silab.maintain runs.
    dispatch_interval_s: float = Field(5.0, gt=0)
    # While the run queue is empty, resend an unclaimed message this old (it was lost, e.g. by a
    # Redis restart); see worker/lost_messages.py.
    lost_after_s: float = Field(15.0, gt=0)
    # Beat: how often the reaper runs (default: with the dispatcher).
    reap_interval_s: float | None = Field(None, gt=0)
    # Redis redelivers a message that is not acknowledged within this time (acks_late keeps a
    # run's message unacknowledged until it ends). A redelivery is harmless (the claim does
    # nothing) but wakes a worker for nothing, so keep it long.
    visibility_timeout_s: int = Field(6 * 3600, gt=0)
    # Most messages sent per maintain round.
    dispatch_batch: int = Field(100, gt=0)
    # A run process is replaced after this many groups.
    worker_recycle_groups: int = Field(100, ge=1)
    # A run process is replaced once its resident memory passes this.
    worker_recycle_mb: int = Field(4096, ge=64)

    @model_validator(mode="after")
    def _consistent(self) -> WorkerSettings:
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError(
                f"heartbeat_seconds ({self.heartbeat_seconds:g}) must be at most half of "
                f"lease_seconds ({self.lease_seconds:g}), or a live run loses its lease"
            )
        if self.visibility_timeout_s <= self.lease_seconds:
            raise ValueError("visibility_timeout_s must be larger than lease_seconds")
        return self

    def transport_options(self) -> dict[str, Any]:
        """Broker transport options for this broker's scheme.

        The SQLAlchemy transport passes its options to `create_engine`, so Redis's
        `visibility_timeout` must not reach it (TypeError); it gets SQLite's busy timeout instead,
        because the API, the worker and beat all write the one broker file.
        """
        scheme = self.broker.split("://", 1)[0]
        if scheme.startswith(("sqla+", "sqlalchemy+")):
            if "sqlite" in scheme:
                return {"connect_args": {"timeout": 30}}
            return {"pool_pre_ping": True}
        if scheme in ("redis", "rediss"):
            return {"visibility_timeout": self.visibility_timeout_s}
        return {}
