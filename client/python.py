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

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import httpx

TERMINAL = ("completed", "diverged", "failed", "cancelled")


class SilabError(Exception):
    """An HTTP error (status set) or an unreachable server (status None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def load_spec(source: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> dict:
    """A raw spec mapping from a dict, `preset:NAME`, or a JSON/YAML file, with `key.path=value`
    overrides applied. ValueError with a clear message when it cannot be read."""
    if isinstance(source, Mapping):
        spec = dict(source)
    else:
        try:
            from trainer import presets
        except ImportError:  # an older trainer without presets: files only
            presets = None
        text = str(source)
        if presets is not None:
            spec = presets.load_spec(text)
        else:
            if text.startswith("preset:"):
                raise ValueError("this installation has no presets (trainer.presets)")
            from trainer.spec import parse_text

            path = Path(text)
            if not path.is_file():
                raise ValueError(f"spec file {text!r} does not exist")
            spec = parse_text(path.read_text())
    if overrides:
        from trainer.presets import apply_overrides

        spec = apply_overrides(spec, list(overrides))
    return spec


def load_sweep(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A sweep body from a dict or a YAML/JSON file. `base` may be a spec mapping, `preset:NAME`
    or a spec file (relative to the sweep file); `set: {key.path: value}` then overrides fields of
    the base (like `silab submit --set`). ValueError with a clear message when it cannot be
    read."""
    if isinstance(source, Mapping):
        sweep, folder = dict(source), Path.cwd()
    else:
        path = Path(str(source))
        if not path.is_file():
            raise ValueError(f"sweep file {str(source)!r} does not exist")
        from trainer.spec import parse_text

        sweep, folder = parse_text(path.read_text()), path.parent
    base = sweep.get("base")
    if isinstance(base, str):
        relative = folder / base
        base = load_spec(str(relative) if relative.is_file() else base)
    overrides = sweep.pop("set", None) or {}
    if not isinstance(overrides, Mapping):
        raise ValueError("a sweep's 'set' must be a mapping {key.path: value}")
    if overrides:
        import json

        base = load_spec(
            base or {}, [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
        )
    sweep["base"] = base
    return sweep


def describe(response: httpx.Response) -> str:
    """The API's error as one readable text: 422 issues as `field.path: message` lines."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text.strip() or response.reason_phrase
    if isinstance(detail, list):
        lines = []
        for issue in detail:
            loc = [str(part) for part in issue.get("loc", [])]
            if loc[:1] == ["body"]:
                loc = loc[1:]
            where = ".".join(loc) or "request"
            lines.append(f"  {where}: {issue.get('msg', issue)}")
        return "invalid request:\n" + "\n".join(lines)
    return str(detail)


class SilabClient:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        from client.config import ClientSettings

        settings = ClientSettings()
        self.base_url = (base_url or settings.url).rstrip("/")
        headers = {}
        key = api_key or settings.key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
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
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise SilabError(
                f"cannot reach the silab API at {self.base_url} "
                f"({type(error).__name__}: {error}); is it running? "
                "(set SILAB_URL)"
            ) from None
        if response.status_code >= 400:
            raise SilabError(
                f"{response.status_code} {response.reason_phrase}: {describe(response)}",
                response.status_code,
            )
        return response

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
    ) -> dict[str, Any]:
        """Submit a spec (a dict, `preset:NAME` or a JSON/YAML file); returns the experiment."""
        body = {
            "name": name,
            "tags": list(tags),
            "priority": priority,
            "max_attempts": max_attempts,
            "spec": load_spec(spec, overrides),
        }
        return self._request("POST", "/experiments", json=body).json()

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

    def get(self, experiment_id: int) -> dict[str, Any]:
        return self._request("GET", f"/experiments/{experiment_id}").json()

    def trace(
        self,
        experiment_id: int,
        *,
        metrics: Sequence[str] | None = None,
        seeds: Sequence[int] | None = None,
        phase: str | None = None,
        step_min: int | None = None,
        step_max: int | None = None,
        max_points: int = 500,
        format: str = "json",
    ) -> Any:
        """The trace as a dict (format='json') or CSV text (format='csv')."""
        params: dict[str, Any] = {"max_points": max_points, "format": format}
        if metrics:
            params["metrics"] = ",".join(metrics)
        if seeds:
            params["seeds"] = ",".join(str(seed) for seed in seeds)
        for key, value in (("phase", phase), ("step_min", step_min), ("step_max", step_max)):
            if value is not None:
                params[key] = value
        response = self._request("GET", f"/experiments/{experiment_id}/trace", params=params)
        return response.text if format == "csv" else response.json()

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
        return self._request("POST", f"/experiments/{experiment_id}/cancel").json()

    def retry(self, experiment_id: int) -> dict[str, Any]:
        return self._request("POST", f"/experiments/{experiment_id}/retry").json()

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

    def sweep_experiments(self, sweep_id: int) -> list[dict[str, Any]]:
        return self._request("GET", f"/sweeps/{sweep_id}/experiments").json()["items"]

    def cancel_sweep(self, sweep_id: int) -> dict[str, Any]:
        return self._request("POST", f"/sweeps/{sweep_id}/cancel").json()

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
            lambda sweep: sweep["status"] not in ("queued", "running"),
            f"sweep {sweep_id}",
            timeout,
            interval,
            on_progress,
        )

    def sweep_aggregate(self, sweep_id: int, *, format: str = "json", **params: Any) -> Any:
        response = self._request(
            "GET", f"/sweeps/{sweep_id}/aggregate", params={"format": format, **params}
        )
        return response.text if format == "csv" else response.json()

    def sweep_fair(
        self, sweep_id: int, *, over: str, statistic: str = "held", **params: Any
    ) -> dict[str, Any]:
        """GET /sweeps/{id}/fair: per (target, algorithm, d) the best value of axis `over` by
        the Kaplan–Meier median of `statistic` (held, weak, first:<threshold>), and the scaling
        fit over the winners (params: d_min, d_max, resamples)."""
        query = {"over": over, "statistic": statistic, **params}
        return self._request("GET", f"/sweeps/{sweep_id}/fair", params=query).json()

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
