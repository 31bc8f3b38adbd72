"""Worker settings. The only place worker/ reads the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    """SILAB_* variables of a worker (and of its embedded beat).

    The lease is what keeps an attempt alive: a heartbeat extends it every `heartbeat_seconds`,
    and the reaper requeues an experiment whose lease ran out (its worker died). Checkpoints are
    what such a requeued attempt resumes from.
    """

    model_config = SettingsConfigDict(env_prefix="SILAB_", extra="ignore")

    data_dir: Path = Path(".silab")
    broker_url: str | None = Field(
        None, description="default: sqla+sqlite:///<data_dir>/broker.db (embedded, no server)"
    )
    lease_seconds: float = Field(60.0, gt=0)
    heartbeat_seconds: float = Field(5.0, gt=0)
    checkpoint_seconds: float = Field(30.0, gt=0)
    final_write_retry_s: float = Field(
        900.0,
        gt=0,
        description="retry a run's final write this long while the database is unreachable",
    )
    device: str = Field("auto", description="'auto' (the spec's device, else CUDA when present)")
    dispatch_interval_s: float = Field(5.0, gt=0, description="beat: how often silab.maintain runs")
    resend_after_s: float = Field(
        600.0, gt=0, description="resend a queued experiment whose message is older than this"
    )
    lost_after_s: float = Field(
        15.0,
        gt=0,
        description="while the run queue is empty, resend an unclaimed message this old "
        "(it was lost, e.g. by a Redis restart); see worker/lost_messages.py",
    )
    reap_interval_s: float | None = Field(
        None, gt=0, description="beat: how often the reaper runs (default: with the dispatcher)"
    )
    # Redis redelivers a message that is not acknowledged within this time (acks_late keeps a
    # run's message unacknowledged until it ends). A redelivery is harmless (the claim does
    # nothing) but wakes a worker for nothing, so keep it long.
    visibility_timeout_s: int = Field(6 * 3600, gt=0)
    dispatch_batch: int = Field(100, gt=0, description="most messages sent per maintain round")
    worker_slots: int = Field(
        1,
        gt=0,
        description="worker processes in the whole pool (SILAB_WORKER_SLOTS): the "
        "dispatcher sends only as many experiments as there are free slots",
    )
    worker_recycle_groups: int = Field(
        100, ge=1, description="a run process is replaced after this many groups"
    )
    worker_recycle_mb: int = Field(
        4096, ge=64, description="a run process is replaced once its resident memory passes this"
    )
    default_max_running: int | None = Field(
        None, gt=0, description="lab default of a user's running experiments (None: no limit)"
    )

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

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def broker(self) -> str:
        """The broker URL, with the embedded default resolved to an absolute path."""
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{self.data_path / 'broker.db'}"

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
