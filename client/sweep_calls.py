"""SilabClient's sweep calls: submit, get, list, experiments, cancel, priority, wait, and the
sweep's statistics (aggregate, curves, scaling, fair, boundary)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from client.connection import Connection, poll
from client.frames import Aggregate, AggregateTrace, Experiments
from client.inputs import load_sweep
from client.status import ACTIVE


class SweepCalls(Connection):
    """The calls on sweeps; mixed into SilabClient."""

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
        return poll(
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
