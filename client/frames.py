"""The API's answers as data frames: `to_pandas()` / `to_polars()` on what SilabClient returns.

    silab.trace(12).to_pandas()              # one row per (seed, phase, step), a column per metric
    silab.get(12).to_pandas()                # one row per seed of the result
    silab.experiments(tag="h3").to_polars()  # one row per experiment, spec fields as spec.PATH
    silab.sweep_aggregate(3).to_pandas()     # one row per cell: axes, then FIELD.STAT columns

Each class is the plain JSON (a dict or a list) it always was, plus those two methods. pandas and
polars are optional: `pip install 'silab[frames]'`.
"""

from __future__ import annotations

from typing import Any

EXTRA = "pip install 'silab[frames]'"


def _module(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        raise ImportError(
            f"{name} is not installed; the data frame extra installs it: {EXTRA}"
        ) from None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys: {"phase1": {"n": 8}} -> {"phase1.n": 8}; lists stay."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, inner in value.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(inner, dict) and inner:
            out.update(flatten(inner, path))
        else:
            out[path] = inner
    return out


class Frameable:
    def rows(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def to_pandas(self) -> Any:
        """A pandas.DataFrame of rows()."""
        return _module("pandas").DataFrame.from_records(self.rows())

    def to_polars(self) -> Any:
        """A polars.DataFrame of rows()."""
        return _module("polars").from_dicts(self.rows(), infer_schema_length=None)


class Trace(dict, Frameable):
    """GET /experiments/{id}/trace."""

    def rows(self) -> list[dict[str, Any]]:
        base = {"experiment_id": self.get("experiment_id")}
        return [
            {**base, **{k: v for k, v in p.items() if k != "values"}, **(p.get("values") or {})}
            for p in self.get("points", [])
        ]


class Experiment(dict, Frameable):
    """GET /experiments/{id}: rows() are the per-seed results."""

    def rows(self) -> list[dict[str, Any]]:
        seeds = (self.get("result") or {}).get("seeds") or []
        return [{"experiment_id": self["id"], **flatten(seed)} for seed in seeds]


class Experiments(list, Frameable):
    """A list of experiments: one row each, without the raw result, the spec flattened."""

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for experiment in self:
            row = {k: v for k, v in experiment.items() if k not in ("spec", "result")}
            row["tags"] = ",".join(experiment.get("tags") or [])
            row.update(flatten(experiment.get("spec") or {}, "spec"))
            out.append(row)
        return out


class Aggregate(dict, Frameable):
    """GET /sweeps/{id}/aggregate: one row per cell, `FIELD.STAT` columns."""

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for cell in self.get("cells", []):
            row: dict[str, Any] = {}
            for key, value in cell.items():
                if isinstance(value, dict) and key not in self.get("axes", []):
                    row.update(flatten(value, key))
                elif isinstance(value, list):
                    row[key] = ",".join(str(v) for v in value)
                else:
                    row[key] = value
            out.append(row)
        return out


class AggregateTrace(dict, Frameable):
    """GET /sweeps/{id}/aggregate/trace: one row per cell and evaluation point."""

    def rows(self) -> list[dict[str, Any]]:
        axes = self.get("axes", [])
        out = []
        for cell in self.get("cells", []):
            values = {path: cell.get(path) for path in axes}
            for point in cell.get("points", []):
                out.append({**values, "metric": self.get("metric"), **point})
        return out
