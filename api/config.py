"""API settings. The only place api/ reads the environment (the database URL is db's own
`DbSettings`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """SILAB_BROKER_URL selects the broker; with nothing set, an SQLite broker file in the local data
    folder (SILAB_DATA_DIR, default ./.silab), the embedded default shared with the worker."""

    model_config = SettingsConfigDict(env_prefix="SILAB_", extra="ignore")

    data_dir: Path = Path(".silab")
    broker_url: str | None = None
    # A submission never waits longer than this for the broker: when it is down, the experiment
    # is stored anyway and the dispatcher sends it later.
    broker_timeout_s: float = Field(2.0, gt=0.0)
    # Requests with a larger body are refused with 413 before they are parsed.
    max_request_bytes: int = Field(2 * 1024 * 1024, gt=0)
    default_page_size: int = Field(50, ge=1, le=1000)
    max_page_size: int = Field(500, ge=1, le=10_000)
    # /metrics: durations are summarized over experiments created in this window.
    metrics_window_s: float = Field(24 * 3600.0, gt=0.0)

    @property
    def broker(self) -> str:
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{(self.data_dir / 'broker.db').resolve()}"
