"""Client settings: the only place the client reads the environment.

The API key is looked for in this order, first found wins:
  1. $SILAB_API_KEY
  2. the user config file, ~/.config/silab/config.toml (`api_key = "..."`, written by
     `silab login`; $SILAB_CONFIG_FILE names another)
  3. the key the local (embedded) server wrote on its first start, <data_dir>/admin.key
     ($SILAB_DATA_DIR, default ./.silab)
The URL likewise: --url, $SILAB_URL, the config file's `url`, http://127.0.0.1:8000.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class KeySource:
    """One place a key was looked for: `where` for messages, `key` when it held one."""

    where: str
    key: str | None
    why: str  # "set", "found", or why not ("unset", "no such file", "no api_key in it")


class ClientSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SILAB_", extra="ignore")

    # The silab API (SILAB_URL); unset: the config file's, else DEFAULT_URL.
    url: str | None = None
    # Sent as `Authorization: Bearer` (SILAB_API_KEY); first of the sources.
    api_key: SecretStr | None = None
    # The user config file `silab login` writes (SILAB_CONFIG_FILE).
    config_file: Path = Path("~/.config/silab/config.toml")
    # The local embedded server's folder (SILAB_DATA_DIR).
    data_dir: Path = Path(".silab")
    # Per HTTP request (SILAB_TIMEOUT_S).
    timeout_s: float = Field(30.0, gt=0.0)
    # How long an idempotent call is retried with backoff while the API is unreachable or answers
    # 502/503/504 (SILAB_RETRY_S); 0: never.
    retry_s: float = Field(120.0, ge=0.0)

    # ------------------------------------------------------------------------- the file
    def config_path(self) -> Path:
        return self.config_file.expanduser()

    def file_values(self) -> dict[str, Any]:
        """The config file's table, {} when there is none; ValueError when it is not TOML."""
        path = self.config_path()
        try:
            text = path.read_text()
        except OSError:
            return {}
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path} is not valid TOML ({error})") from None

    def write_file(self, *, url: str | None, api_key: str) -> Path:
        """Write (replace) the config file with mode 0600: it holds a secret."""
        path = self.config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["# written by `silab login`"]
        if url:
            lines.append(f"url = {json.dumps(url)}")  # a JSON string is a TOML basic string
        lines.append(f"api_key = {json.dumps(api_key)}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path

    # ----------------------------------------------------------------------------- url, key
    def base_url(self) -> str:
        if self.url:
            return self.url
        try:
            value = self.file_values().get("url")
        except ValueError:
            value = None
        return str(value) if value else DEFAULT_URL

    def key_sources(self) -> list[KeySource]:
        """Every source in order, with what each held (stops at the first key found)."""
        sources = []
        if self.api_key is not None and self.api_key.get_secret_value().strip():
            return [KeySource("$SILAB_API_KEY", self.api_key.get_secret_value().strip(), "set")]
        sources.append(KeySource("$SILAB_API_KEY", None, "unset"))
        path = self.config_path()
        try:
            value = self.file_values().get("api_key")
        except ValueError as error:
            sources.append(KeySource(str(path), None, str(error)))
        else:
            if value:
                return [*sources, KeySource(str(path), str(value).strip(), "found")]
            sources.append(
                KeySource(str(path), None, "no api_key in it" if path.exists() else "no such file")
            )
        key_file = self.data_dir / "admin.key"
        try:
            key = key_file.read_text().strip()
        except OSError:
            sources.append(KeySource(str(key_file), None, "no such file"))
        else:
            sources.append(KeySource(str(key_file), key or None, "found" if key else "empty"))
        return sources

    def key(self) -> str | None:
        return self.key_sources()[-1].key
