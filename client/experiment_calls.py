"""SilabClient's experiment calls: submit (one or a batch), validate, list, get, trace, wait,
cancel, retry, priority, delete, position, and the caller's own account (me)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from client.connection import Connection, poll
from client.frames import Experiment, Experiments, Trace
from client.inputs import load_spec
from client.status import TERMINAL

RAW_POINTS = 2**40  # the API's largest max_points: every point, never downsampled
# Items per POST /experiments:batch: the server's default SILAB_MAX_BATCH.
BATCH_ITEMS = 10_000


class ExperimentCalls(Connection):
    """The calls on experiments, and `me`; mixed into SilabClient."""

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
        return poll(
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
