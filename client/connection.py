"""The HTTP side of SilabClient: one httpx client with the key, retries while the API is down
(client.transport) and readable errors (SilabError); `poll` waits for a state."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, Self

import httpx

from client import transport
from client.errors import SilabError, describe, field_names


class Connection:
    """The connection every call goes through (SilabClient's base)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
        retry_s: float | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        """`base_url`, the key and the retry budget default to ClientSettings (client.config:
        the key from $SILAB_API_KEY, the user config file, then the local server's data dir).
        `on_retry` hears one line per retried call (the CLI prints them)."""
        from client.config import ClientSettings

        settings = ClientSettings()
        self.base_url = (base_url or settings.base_url()).rstrip("/")
        self.key_sources = [] if api_key else settings.key_sources()
        key = api_key or settings.key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.retry_s = settings.retry_s if retry_s is None else retry_s
        self.on_retry = on_retry
        self.http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout or settings.timeout_s,
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------- HTTP
    def _request(
        self, method: str, path: str, *, safe: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """One call; idempotent ones (and `safe` POSTs) are retried with backoff while the API
        is down (client.transport). SilabError on an HTTP error or an unreachable server."""
        try:
            response = transport.request(
                self.http,
                method,
                path,
                retry_s=self.retry_s,
                safe=safe,
                on_retry=self.on_retry,
                **kwargs,
            )
        except httpx.TransportError as error:
            raise SilabError(
                f"cannot reach the silab API at {self.base_url} "
                f"({type(error).__name__}: {error}); is it running? "
                "(set SILAB_URL or pass --url)"
            ) from None
        if response.status_code >= 400:
            message = (
                f"{response.status_code} {response.reason_phrase}: "
                f"{describe(response, self._known_fields(response))}"
            )
            if response.status_code == 401:
                message += "; " + self._key_help()
            raise SilabError(message, response.status_code)
        return response

    def _known_fields(self, response: httpx.Response) -> set[str]:
        """Field names of the API's schemas and of the spec, fetched only for a 422 that names
        an unknown field (for a "did you mean")."""
        if response.status_code != 422 or "extra_forbidden" not in response.text:
            return set()
        names: set[str] = set()
        with contextlib.suppress(httpx.HTTPError, ValueError):
            names |= field_names(self.http.get("/openapi.json").json())
        from trainer.spec import ExperimentSpec

        names |= field_names(ExperimentSpec.model_json_schema())
        return names

    def _key_help(self) -> str:
        if not self.key_sources:
            return "the key passed to SilabClient(api_key=...) was refused"
        found = self.key_sources[-1]
        tried = ", ".join(f"{s.where} ({s.why})" for s in self.key_sources)
        if found.key:
            return (
                f"the key from {found.where} was refused (tried {tried}); "
                "`silab login` stores another"
            )
        return f"no API key found (tried {tried}); run `silab login` or set SILAB_API_KEY"

    def get_bytes(self, path: str, **params: Any) -> bytes:
        """Any GET of the API as bytes, e.g. a plot: get_bytes("/sweeps/3/heatmap.png", x="d")."""
        return self._request("GET", path, params=params).content


def poll(
    fetch: Callable[[], dict[str, Any]],
    finished: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float | None,
    interval: float,
    on_progress: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    """Fetch every `interval` seconds until `finished`; TimeoutError after `timeout` seconds
    (None: wait forever)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        current = fetch()
        if on_progress is not None:
            on_progress(current)
        if finished(current):
            return current
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"{what} is still {current['status']} after {timeout:g} s")
        time.sleep(
            interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic()))
        )
