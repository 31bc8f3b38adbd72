"""Sweep definitions: axes, their expansion into cells and experiments, the sweep hash. Pure
functions (no database) on the validated SweepCreate body.

Expansion is deterministic: the cells are the Cartesian product of the axes in the order given
(the last axis varies fastest); a zip group advances its member axes together. A cell's key is the
canonical JSON of its axis values ({"d": 32, "phase1.n": "16*d"}, keys sorted). Each cell holds
`ceil(seeds / seeds_per_experiment)` experiments whose specs differ only in their seed lists.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from trainer.canonical import canonical_hash, canonical_json
from trainer.paths import set_path
from trainer.spec import ExperimentSpec, Unstated

MAX_EXPERIMENTS = 5000


def sweep_hash(definition: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of what decides the experiments: base, axes and seeds."""
    keys = ("base", "axes", "seeds", "seeds_per_experiment")
    return canonical_hash({k: definition.get(k) for k in keys})


def axis_values(axis: dict[str, Any]) -> list[Any]:
    """The values of one axis: `values`, or a range {start, stop, num, scale: log2|linear}
    (both ends included; integers when start and stop are integers and the points are)."""
    if "values" in axis and axis["values"] is not None:
        return list(axis["values"])
    start, stop, num = axis["start"], axis["stop"], int(axis["num"])
    scale = axis.get("scale") or "linear"
    if num == 1:
        points = [float(start)]
    elif scale == "log2":
        low, high = math.log2(start), math.log2(stop)
        points = [2.0 ** (low + (high - low) * i / (num - 1)) for i in range(num)]
    else:
        points = [start + (stop - start) * i / (num - 1) for i in range(num)]
    integral = isinstance(start, int) and isinstance(stop, int)
    out: list[Any] = []
    for point in points:
        nearest = round(point)
        if integral and abs(point - nearest) < 1e-9 * max(1.0, abs(point)):
            out.append(int(nearest))
        else:
            out.append(float(point))
    return out


def _groups(axes: list[dict[str, Any]]) -> list[list[tuple[str, list[Any]]]]:
    """Each entry of `axes` as a group of (path, values) that advance together."""
    groups = []
    for axis in axes:
        members = axis["zip"] if axis.get("zip") else [axis]
        group = [(member["path"], axis_values(member)) for member in members]
        lengths = {len(values) for _, values in group}
        if len(lengths) != 1:
            paths = ", ".join(path for path, _ in group)
            raise ValueError(
                f"zipped axes {paths} have different numbers of values ({sorted(lengths)})"
            )
        groups.append(group)
    return groups


def axis_paths(axes: list[dict[str, Any]]) -> list[str]:
    return [path for group in _groups(axes) for path, _ in group]


@dataclass
class Planned:
    """One experiment to create: its cell, the cell's axis values and its validated spec."""

    cell_key: str
    values: dict[str, Any]
    spec: ExperimentSpec
    part: int  # which of the cell's experiments (seed split), from 0


class ExpansionError(ValueError):
    """A definition that cannot be expanded; `loc` names where (for a 422). Each such rule
    relates the base, the axes and the seeds (a cell is the base with the axes' values written
    in by path), which JSON Schema cannot state: its issue type is Unstated.cross_field."""

    def __init__(self, message: str, loc: tuple[str | int, ...] = ("body",)) -> None:
        super().__init__(message)
        self.loc = loc
        self.kind = Unstated.cross_field


def cell_count(axes: list[dict[str, Any]]) -> int:
    """The number of cells, the product of the groups' lengths, without building any cell:
    three 1000-value axes are 10⁹ cells, refused from this count in constant memory."""
    return math.prod(len(group[0][1]) for group in _groups(axes))


def cells(axes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The axis values of every cell, in expansion order (the last group varies fastest),
    one at a time."""
    groups = _groups(axes)
    lengths = [range(len(group[0][1])) for group in groups]
    for indices in itertools.product(*lengths):
        yield {
            path: values[i]
            for group, i in zip(groups, indices, strict=True)
            for path, values in group
        }


def expand(definition: dict[str, Any]) -> list[Planned]:
    """Every experiment of a sweep, validated. ExpansionError (with `loc`) on the first problem."""
    axes = definition.get("axes") or []
    try:
        count = cell_count(axes)
        paths = axis_paths(axes)
    except (KeyError, ValueError, OverflowError) as error:
        raise ExpansionError(str(error), ("body", "axes")) from None
    if len(set(paths)) != len(paths):
        raise ExpansionError(f"an axis path appears twice: {paths}", ("body", "axes"))
    seeds_total = definition.get("seeds")
    per_experiment = definition.get("seeds_per_experiment")
    if count > MAX_EXPERIMENTS:
        raise ExpansionError(
            f"the sweep has {count} cells, more than the {MAX_EXPERIMENTS} experiments a sweep "
            "may hold (the product of the axis lengths)",
            ("body", "axes"),
        )
    grid = cells(axes)
    planned: list[Planned] = []
    for index, values in enumerate(grid):
        key = canonical_json(values)
        raw = copy.deepcopy(definition["base"])
        for path, value in values.items():
            try:
                set_path(raw, path, value)
            except ValueError as error:
                raise ExpansionError(f"axis path {path!r}: {error}", ("body", "axes")) from None
        for part, seeds in enumerate(_seed_split(raw.get("seeds", 1), seeds_total, per_experiment)):
            raw_part = {**raw, "seeds": seeds}
            try:
                spec = ExperimentSpec.model_validate(raw_part)
            except ValidationError as error:
                issue = error.errors()[0]
                where = ".".join(str(p) for p in issue["loc"]) or "spec"
                raise ExpansionError(
                    f"cell {index} {key}: {where}: {issue['msg']}", ("body", "base", *issue["loc"])
                ) from None
            planned.append(Planned(key, values, spec, part))
            if len(planned) > MAX_EXPERIMENTS:
                raise ExpansionError(
                    f"the sweep expands to more than {MAX_EXPERIMENTS} experiments",
                    ("body", "axes"),
                )
    return planned


def _seed_split(base_seeds: Any, total: int | None, per_experiment: int | None) -> list[Any]:
    """The seeds of each experiment of one cell. Without `seeds`/`seeds_per_experiment` the
    base's seeds stay as they are (one experiment). With them, seeds 0..total−1 are cut into
    consecutive lists of `per_experiment` (the last may be shorter)."""
    if total is None and per_experiment is None:
        return [base_seeds]
    if total is None:
        total = base_seeds if isinstance(base_seeds, int) else len(base_seeds)
    seed_list = list(range(total)) if isinstance(base_seeds, int) else list(base_seeds)[:total]
    if len(seed_list) < total:
        raise ExpansionError(
            f"seeds = {total} but the base lists only {len(seed_list)} seeds", ("body", "seeds")
        )
    size = per_experiment or total
    if size >= total and isinstance(base_seeds, int):
        return [total]
    return [seed_list[i : i + size] for i in range(0, total, size)]
