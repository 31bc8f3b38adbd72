"""Client settings: the only place the client reads the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClientSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SILAB_", extra="ignore")

    url: str = Field("http://127.0.0.1:8000", description="the silab API (SILAB_URL)")
    user: str | None = Field(None, description="sent as X-Silab-User (SILAB_USER); not auth")
    timeout_s: float = Field(30.0, gt=0.0, description="per HTTP request (SILAB_TIMEOUT_S)")
