"""Client settings: the only place the client reads the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClientSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SILAB_", extra="ignore")

    url: str = Field("http://127.0.0.1:8000", description="the silab API (SILAB_URL)")
    api_key: SecretStr | None = Field(
        None,
        description="sent as `Authorization: Bearer` (SILAB_API_KEY); unset: the key the "
        "embedded server wrote on its first start, <data_dir>/admin.key, if readable",
    )
    data_dir: Path = Field(
        Path(".silab"), description="the embedded server's folder (SILAB_DATA_DIR)"
    )
    timeout_s: float = Field(30.0, gt=0.0, description="per HTTP request (SILAB_TIMEOUT_S)")

    def key(self) -> str | None:
        """SILAB_API_KEY, else the embedded server's admin key file, else None."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        try:
            return (self.data_dir / "admin.key").read_text().strip() or None
        except OSError:
            return None
