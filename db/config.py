"""Database settings. The only place db/ reads the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DbSettings(BaseSettings):
    """SILAB_DATABASE_URL selects the database; with nothing set, an SQLite file in the local data
    folder (SILAB_DATA_DIR, default ./.silab) is the embedded default."""

    model_config = SettingsConfigDict(env_prefix="SILAB_", extra="ignore")

    data_dir: Path = Path(".silab")
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
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'silab.db').resolve()}"


class GroupSettings(BaseSettings):
    """How large a fused group may grow (docs/design.md, "Groups"): SILAB_GROUP_MAX_EXPERIMENTS
    experiments of one shape_key, and at most SILAB_GROUP_MEMORY_GB of summed memory estimates
    (the device's budget for one worker). Read by every dispatch round (API and silab.maintain)."""

    model_config = SettingsConfigDict(env_prefix="SILAB_GROUP_", extra="ignore")

    max_experiments: int = Field(64, ge=1)
    memory_gb: float = Field(8.0, gt=0.0)
