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
import difflib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import httpx

from client import transport
from client.frames import Aggregate, AggregateTrace, Experiment, Experiments, Trace
from client.status import ACTIVE, TERMINAL

RAW_POINTS = 2**40  # the API's largest max_points: every point, never downsampled


class SilabError(Exception):
    """An HTTP error (status set) or an unreachable server (status None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# Items per POST /experiments:batch: the server's default SILAB_MAX_BATCH.
BATCH_ITEMS = 10_000


def load_spec(source: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> dict:
    """A raw spec mapping from a dict, `preset:NAME`, or a JSON/YAML file, with `key.path=value`
    overrides applied. ValueError with a clear message when it cannot be read."""
    if isinstance(source, Mapping):
        spec = dict(source)
    elif Path(str(source)).is_file():
        spec = _parse_file(Path(str(source)), "spec")
    else:  # preset:NAME, or a missing file (trainer.presets says which presets exist)
        from trainer import presets

        spec = presets.load_spec(str(source))
    if overrides:
        from trainer.presets import apply_overrides

        spec = apply_overrides(spec, list(overrides))
    return spec


def load_batch(path: str | Path) -> list[Any]:
    """The items of a batch file: a YAML/JSON list (or a mapping with `items`), or JSON lines
    (`.jsonl`); each item a spec or a submission with a `spec` key. ValueError in one line."""
    import json

    import yaml

    path = Path(path)
    try:
        text = path.read_text()
        if path.suffix == ".jsonl":
            loaded: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            loaded = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"batch file {str(path)!r} cannot be read: {reason}") from None
    if isinstance(loaded, Mapping) and isinstance(loaded.get("items"), list):
        loaded = loaded["items"]
    if not isinstance(loaded, list) or not loaded:
        raise ValueError(f"batch file {str(path)!r}: expected a non-empty list of specs or items")
    return loaded


def _parse_file(path: Path, what: str) -> dict[str, Any]:
    """A YAML/JSON mapping from a file; ValueError in one line (with the line and column of a
    syntax error) when it cannot be read."""
    import yaml

    from trainer.spec import parse_text

    try:
        return parse_text(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"{what} file {str(path)!r} is not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{what} file {str(path)!r} is not text (UTF-8)") from None
    except OSError as error:
        raise ValueError(f"{what} file {str(path)!r} cannot be read: {error.strerror}") from None
    except ValueError as error:
        raise ValueError(f"{what} file {str(path)!r}: {error}") from None


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
        sweep, folder = _parse_file(path, "sweep"), path.parent
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


def _loc(issue: Mapping[str, Any]) -> list[str]:
    loc = [str(part) for part in issue.get("loc", [])]
    return loc[1:] if loc[:1] in (["body"], ["query"], ["path"]) else loc


def _issue_line(issue: Mapping[str, Any]) -> str:
    """`field.path: message` for one 422 issue (the API already left pydantic's union members
    out of `loc` and its prefixes out of `msg`: api/errors.py)."""
    where = ".".join(_loc(issue)) or "request"
    return f"{where}: {issue.get('msg', issue)}"


def _field_names(schema: Any) -> set[str]:
    """Every property name anywhere in a JSON schema (an OpenAPI document included)."""
    names: set[str] = set()
    if isinstance(schema, dict):
        names.update(k for k in (schema.get("properties") or {}) if isinstance(k, str))
        for value in schema.values():
            names |= _field_names(value)
    elif isinstance(schema, list):
        for value in schema:
            names |= _field_names(value)
    return names


def _did_you_mean(issue: Mapping[str, Any], known: set[str]) -> str:
    """For an unknown field, the closest known field name (`axis` -> `axes`)."""
    loc = _loc(issue)
    if issue.get("type") != "extra_forbidden" or not loc or not known:
        return ""
    close = difflib.get_close_matches(loc[-1], sorted(known - {loc[-1]}), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe(response: httpx.Response, known: set[str] | None = None) -> str:
    """The API's error as one readable line: 422 issues as `field.path: message`, joined by
    '; ' (the first few, with a count of the rest). `known`: field names for "did you mean"."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = response.text.strip() or response.reason_phrase
    if isinstance(detail, list):
        issues = detail
        lines = list(
            dict.fromkeys(_issue_line(i) + _did_you_mean(i, known or set()) for i in issues)
        )
        shown = "; ".join(lines[:4]) + (f"; and {len(lines) - 4} more" if len(lines) > 4 else "")
        return f"invalid request: {shown}"
    return " ".join(str(detail).split())


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
            names |= _field_names(self.http.get("/openapi.json").json())
        from trainer.spec import ExperimentSpec

        names |= _field_names(ExperimentSpec.model_json_schema())
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
