"""Settings db/ reads, and those the API and the worker share (LabSettings). The only place db/
reads the environment; db/ is the one package both the API and the worker import, so a setting
both need is declared here once rather than in each, where the two could disagree."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LocalSettings(BaseSettings):
    """SILAB_DATA_DIR: the local data folder of the embedded defaults (database, broker, admin
    key), for the database, the API and the worker alike."""

    model_config = SettingsConfigDict(env_prefix="SILAB_", extra="ignore")

    data_dir: Path = Path(".silab")

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()

    def url_or_embedded(self, url: str | None, scheme: str, file: str) -> str:
        """`url` when it is set, else the embedded default: `file` in the data folder."""
        return url or f"{scheme}:///{self.data_path / file}"


class DbSettings(LocalSettings):
    """SILAB_DATABASE_URL selects the database; with nothing set, an SQLite file in the local data
    folder (SILAB_DATA_DIR, default ./.silab) is the embedded default."""

    database_url: str | None = None
    # Connections kept per process; the worker needs few, the API a handful.
    pool_size: int = 5
    # PostgreSQL: give up connecting after this long (a dropped host would otherwise hang a
    # request for the kernel's TCP timeout), and on waiting for a free pooled connection after
    # this long; both end as the API's 503 + Retry-After rather than a hung worker thread.
    connect_timeout_s: int = Field(5, ge=1)
    pool_timeout_s: float = Field(10.0, gt=0.0)
    echo_sql: bool = False

    @property
    def url(self) -> str:
        return self.url_or_embedded(self.database_url, "sqlite", "silab.db")


class LabSettings(LocalSettings):
    """What the API and the worker must agree on: the broker, the pool's size and resend interval
    (the API runs a dispatch round after a submit and answers queue positions with the same rule
    as the worker's dispatcher), the lab default of a user's running limit, and the wall-clock
    limit of a run (the API refuses a spec above it, the worker stops a run at it). ApiSettings and
    WorkerSettings extend this class."""

    # Unset: sqla+sqlite:///<data_dir>/broker.db (embedded, no server).
    broker_url: str | None = None
    # Worker processes in the whole pool: the dispatcher sends only as many experiments as there are
    # free slots.
    worker_slots: int = Field(1, gt=0)
    # Resend a queued experiment whose message is older than this.
    resend_after_s: float = Field(600.0, gt=0.0)
    # Lab default of a user's running experiments (None: no limit).
    default_max_running: int | None = Field(None, gt=0)
    # Wall-clock limit of one attempt of a run: the API refuses a spec's max_wall_s above it (422),
    # the worker applies it to a spec that names none.
    max_wall_s: float = Field(86400.0, gt=0.0)

    def wall_limit_s(self, requested: float | None) -> float:
        """The wall-clock limit a run gets: the spec's max_wall_s, else this server's, and
        never more than this server's (a spec accepted under a larger one is capped too)."""
        return min(requested or self.max_wall_s, self.max_wall_s)

    @property
    def broker(self) -> str:
        """The broker URL, with the embedded default resolved to an absolute path."""
        return self.url_or_embedded(self.broker_url, "sqla+sqlite", "broker.db")


class GroupSettings(BaseSettings):
    """How large a fused group may grow (docs/design.md, "Groups"): SILAB_GROUP_MAX_EXPERIMENTS
    experiments of one shape_key, and at most SILAB_GROUP_MEMORY_GB of summed memory estimates
    (the device's budget for one worker). Read by every dispatch round (API and silab.maintain)."""

    model_config = SettingsConfigDict(env_prefix="SILAB_GROUP_", extra="ignore")

    max_experiments: int = Field(64, ge=1)
    memory_gb: float = Field(8.0, gt=0.0)
