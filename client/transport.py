"""HTTP for the client: one request function that retries what is safe to retry.

An idempotent call (GET, HEAD, PUT, DELETE, or a POST that carries an Idempotency-Key or is
harmless to repeat, such as cancel) is retried with exponential backoff and jitter (tenacity)
while the server cannot be reached or answers 502/503/504, for up to `retry_s` seconds, so an API
restart during `silab wait` costs a pause, not the wait. Anything else is tried once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_delay,
    wait_exponential_jitter,
)

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
TRANSIENT_STATUS = frozenset({502, 503, 504})


def _transient(response: httpx.Response) -> bool:
    return response.status_code in TRANSIENT_STATUS


def request(
    http: httpx.Client,
    method: str,
    path: str,
    *,
    retry_s: float,
    safe: bool = False,
    on_retry: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """`http.request(...)`, retried when `method` is idempotent or `safe` says so. Raises the last
    httpx.TransportError, or returns the last (possibly 5xx) response, once retry_s is spent."""
    if retry_s <= 0 or not (safe or method.upper() in IDEMPOTENT):
        return http.request(method, path, **kwargs)

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None or state.next_action is None:
            return
        outcome = state.outcome
        if outcome is not None and outcome.failed:
            error = outcome.exception()
            why = f"{type(error).__name__}: {error}".rstrip(": ")
        else:
            why = f"HTTP {outcome.result().status_code}" if outcome is not None else "?"
        on_retry(
            f"{method} {path} failed ({why}); retrying in {state.next_action.sleep:.1f} s "
            f"(attempt {state.attempt_number}, giving up after {retry_s:g} s)"
        )

    retrying = Retrying(
        retry=retry_if_exception(lambda e: isinstance(e, httpx.TransportError))
        | retry_if_result(_transient),
        wait=wait_exponential_jitter(multiplier=0.5, max=10.0, jitter=0.5),
        stop=stop_after_delay(retry_s),
        before_sleep=before_sleep,
        retry_error_callback=_give_up,
    )
    return retrying(http.request, method, path, **kwargs)


def _give_up(state: RetryCallState) -> httpx.Response:
    """Out of time: the last answer as it was, or its error raised."""
    assert state.outcome is not None
    if state.outcome.failed:
        raise state.outcome.exception()  # type: ignore[misc]
    return state.outcome.result()
