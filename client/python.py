"""A small Python client for the silab API.

    from client.python import SilabClient
    silab = SilabClient("http://127.0.0.1:8000")
    experiment = silab.submit("preset:tiny", name="smoke", tags=["demo"])
    done = silab.wait(experiment["id"], timeout=600)
    csv_text = silab.trace(experiment["id"], metrics=["mean_abs_m"], format="csv")

Every method returns the API's JSON (dicts) and raises SilabError with a readable message on an
HTTP error or when the server cannot be reached.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import httpx

from client import transport
from client.errors import SilabError, describe, field_names
from client.frames import Aggregate, AggregateTrace, Experiment, Experiments, Trace
from client.inputs import load_spec, load_sweep
from client.status import ACTIVE, TERMINAL

RAW_POINTS = 2**40  # the API's largest max_points: every point, never downsampled
# Items per POST /experiments:batch: the server's default SILAB_MAX_BATCH.
BATCH_ITEMS = 10_000


class SilabClient:
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

    # ----------------------------------------------------------------------------- methods
    def submit(
        self,
        spec: str | Path | Mapping[str, Any],
        *,
        name: str = "",
        tags: Iterable[str] = (),
        priority: int = 0,
        max_attempts: int = 3,
        overrides: Sequence[str] = (),
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Submit a spec (a dict, `preset:NAME` or a JSON/YAML file); returns the experiment."""
        body = {
            "name": name,
            "tags": list(tags),
            "priority": priority,
            "max_attempts": max_attempts,
            "spec": load_spec(spec, overrides),
        }
        # A fresh Idempotency-Key makes the POST safe to retry: a resend returns the same row.
        headers = {"Idempotency-Key": idempotency_key or f"silab-client-{uuid.uuid4()}"}
        return self._request("POST", "/experiments", json=body, headers=headers, safe=True).json()

    def submit_batch(
        self,
        items: Iterable[str | Path | Mapping[str, Any]],
        *,
        tags: Iterable[str] = (),
        priority: int = 0,
        max_attempts: int = 3,
        chunk: int = BATCH_ITEMS,
        idempotency_key: str | None = None,
    ) -> list[int]:
        """Submit many experiments with POST /experiments:batch, `chunk` items a request. Each
        request is one transaction (all its items or none; a 422 names the item's index in that
        request); when one fails, the chunks before it stay stored. An item is a spec source (a
        dict, a file, `preset:NAME`) or a submission mapping with a `spec` key and its own
        name, tags, priority or max_attempts; `tags` are added to every item's. Returns the ids
        in the order of the items. Each request carries an Idempotency-Key (`KEY-<chunk>`, a
        fresh one by default), so a request whose answer was lost is retried safely: the
        server answers the first one's ids and stores nothing twice."""
        shared = list(tags)
        bodies = []
        for item in items:
            if isinstance(item, Mapping) and "spec" in item:
                body = {"priority": priority, "max_attempts": max_attempts, **item}
                body["spec"] = load_spec(item["spec"])
            else:
                body = {"priority": priority, "max_attempts": max_attempts, "spec": load_spec(item)}
            body["tags"] = sorted({*body.get("tags", ()), *shared})
            bodies.append(body)
        ids: list[int] = []
        key = idempotency_key or f"silab-client-{uuid.uuid4()}"
        for start in range(0, len(bodies), max(1, chunk)):
            part = {"items": bodies[start : start + max(1, chunk)]}
            headers = {"Idempotency-Key": f"{key}-{start}"}
            answer = self._request(
                "POST", "/experiments:batch", json=part, headers=headers, safe=True
            )
            ids += answer.json()["ids"]
        return ids

    def validate(
        self, spec: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()
    ) -> dict[str, Any]:
        body = {"spec": load_spec(spec, overrides)}
        return self._request("POST", "/experiments/validate", json=body).json()

    def list(self, *, page_size: int = 100, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every experiment matching the filters (status, owner, tag, target, algorithm, d_min,
        d_max, name, sort), fetching pages as the iteration goes."""
        params = {key: value for key, value in filters.items() if value is not None}
        params["limit"] = page_size
        cursor = None
        while True:
            page = self._request(
                "GET", "/experiments", params={**params, **({"cursor": cursor} if cursor else {})}
            ).json()
            yield from page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def experiments(self, *, limit: int | None = None, **filters: Any) -> Experiments:
        """list() collected (at most `limit`), with to_pandas()/to_polars()."""
        out = Experiments()
        for experiment in self.list(page_size=min(limit or 500, 500), **filters):
            out.append(experiment)
            if limit is not None and len(out) >= limit:
                break
        return out

    def get(self, experiment_id: int) -> Experiment:
        """One experiment; to_pandas()/to_polars() give its per-seed results."""
        return Experiment(self._request("GET", f"/experiments/{experiment_id}").json())

    def trace(
        self,
        experiment_id: int,
        *,
        metrics: Sequence[str] | None = None,
        seeds: Sequence[int] | None = None,
        phase: str | None = None,
        step_min: int | None = None,
        step_max: int | None = None,
        max_points: int | None = None,
        format: str = "json",
    ) -> Any:
        """The trace as a Trace dict (format='json', with to_pandas()/to_polars()) or CSV text
        (format='csv'). Every point unless `max_points` is given (then downsampled to about that
        many, keeping each bucket's extremes)."""
        params: dict[str, Any] = {"max_points": max_points or RAW_POINTS, "format": format}
        if metrics:
            params["metrics"] = ",".join(metrics)
        if seeds:
            params["seeds"] = ",".join(str(seed) for seed in seeds)
        for key, value in (("phase", phase), ("step_min", step_min), ("step_max", step_max)):
            if value is not None:
                params[key] = value
        response = self._request("GET", f"/experiments/{experiment_id}/trace", params=params)
        return response.text if format == "csv" else Trace(response.json())

    def wait(
        self,
        experiment_id: int,
        *,
        timeout: float | None = None,
        interval: float = 2.0,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the experiment is completed, diverged, failed or cancelled; returns it.
        TimeoutError after `timeout` seconds (None: wait forever)."""
        return _poll(
            lambda: self.get(experiment_id),
            lambda e: e["status"] in TERMINAL,
            f"experiment {experiment_id}",
            timeout,
            interval,
            on_progress,
        )

    def cancel(self, experiment_id: int) -> dict[str, Any]:
        # Cancelling twice is harmless, so a lost answer may be asked again.
        return self._request("POST", f"/experiments/{experiment_id}/cancel", safe=True).json()

    def retry(self, experiment_id: int) -> dict[str, Any]:
        return self._request("POST", f"/experiments/{experiment_id}/retry").json()

    def set_priority(self, experiment_id: int, priority: int | str) -> dict[str, Any]:
        """A queued experiment's new priority: low, normal, high or an integer (409 when it
        is no longer queued). Setting it twice is harmless, so a lost answer is asked again."""
        path = f"/experiments/{experiment_id}/priority"
        return self._request("POST", path, json={"priority": priority}, safe=True).json()

    def delete(self, experiment_id: int) -> None:
        """Delete a queued or finished experiment with its trace (owner or admin)."""
        self._request("DELETE", f"/experiments/{experiment_id}")

    def position(self, experiment_id: int) -> dict[str, Any]:
        """A queued experiment's place in line and what it waits for."""
        return self._request("GET", f"/experiments/{experiment_id}/position").json()

    def me(self) -> dict[str, Any]:
        """Who the key belongs to, and the limits that apply."""
        return self._request("GET", "/me").json()

    # ------------------------------------------------------------------------------- sweeps
    def submit_sweep(self, sweep: str | Path | Mapping[str, Any]) -> dict[str, Any]:
        """Submit a sweep (a dict or a YAML/JSON file, see load_sweep). Returns the sweep with
        `created`: False when the same sweep already existed (nothing new was queued)."""
        response = self._request("POST", "/sweeps", json=load_sweep(sweep))
        return {**response.json(), "created": response.status_code == 201}

    def get_sweep(self, sweep_id: int) -> dict[str, Any]:
        return self._request("GET", f"/sweeps/{sweep_id}").json()

    def list_sweeps(self, **params: Any) -> dict[str, Any]:
        return self._request("GET", "/sweeps", params=params).json()

    def sweep_experiments(self, sweep_id: int) -> Experiments:
        """The sweep's experiments in expansion order, with to_pandas()/to_polars()."""
        return Experiments(self._request("GET", f"/sweeps/{sweep_id}/experiments").json()["items"])

    def cancel_sweep(self, sweep_id: int) -> dict[str, Any]:
        return self._request("POST", f"/sweeps/{sweep_id}/cancel", safe=True).json()

    def set_sweep_priority(self, sweep_id: int, priority: int | str) -> dict[str, Any]:
        """Every queued experiment of the sweep gets `priority`: {sweep_id, priority, changed}."""
        path = f"/sweeps/{sweep_id}/priority"
        return self._request("POST", path, json={"priority": priority}, safe=True).json()

    def wait_sweep(
        self,
        sweep_id: int,
        *,
        timeout: float | None = None,
        interval: float = 2.0,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until no experiment of the sweep is queued or running; returns the sweep."""
        return _poll(
            lambda: self.get_sweep(sweep_id),
            lambda sweep: sweep["status"] not in ACTIVE,
            f"sweep {sweep_id}",
            timeout,
            interval,
            on_progress,
        )

    def sweep_aggregate(self, sweep_id: int, *, format: str = "json", **params: Any) -> Any:
        response = self._request(
            "GET", f"/sweeps/{sweep_id}/aggregate", params={"format": format, **params}
        )
        return response.text if format == "csv" else Aggregate(response.json())

    def sweep_trace(
        self, sweep_id: int, metric: str = "median_abs_m", **params: Any
    ) -> AggregateTrace:
        """A metric per cell and evaluation point, mean/std/95% interval over seeds."""
        response = self._request(
            "GET", f"/sweeps/{sweep_id}/aggregate/trace", params={"metric": metric, **params}
        )
        return AggregateTrace(response.json())

    def scaling(self, sweep_id: int, **params: Any) -> dict[str, Any]:
        """Samples to weak recovery against d, with the fitted exponent per group."""
        return self._request("GET", f"/sweeps/{sweep_id}/scaling", params=params).json()

    def sweep_fair(
        self, sweep_id: int, *, over: str, statistic: str = "held", **params: Any
    ) -> dict[str, Any]:
        """GET /sweeps/{id}/fair: per (target, algorithm, d) the best value of axis `over` by
        the Kaplan–Meier median of `statistic` (held, weak, first:<threshold>), and the scaling
        fit over the winners (params: d_min, d_max, resamples)."""
        query = {"over": over, "statistic": statistic, **params}
        return self._request("GET", f"/sweeps/{sweep_id}/fair", params=query).json()

    def sweep_boundary(
        self, sweep_id: int, *, level: float, field: str = "test_mse", **params: Any
    ) -> dict[str, Any]:
        """GET /sweeps/{id}/boundary: per (target, algorithm, d) the x (params: x = samples,
        total_samples or steps) at which the median of `field` first reaches `level`, and its
        scaling fit over d (params: d_min, d_max, resamples)."""
        query = {"level": level, "field": field, **params}
        return self._request("GET", f"/sweeps/{sweep_id}/boundary", params=query).json()

    def get_bytes(self, path: str, **params: Any) -> bytes:
        """Any GET of the API as bytes, e.g. a plot: get_bytes("/sweeps/3/heatmap.png", x="d")."""
        return self._request("GET", path, params=params).content


def _poll(
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
