"""Hostile numbers get a 422 that names the field, on /validate and on submit alike, never a 500
and never a row: NaN, ±Infinity and 1e309 (which JSON parsers read as inf) in every numeric
field, expressions whose value is complex or overflows, θ = 0 and absurd Hermite coefficients.

The bodies are sent as raw text, because NaN and Infinity are not JSON a client library writes
but are what Python's json module (and so FastAPI) reads."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import tiny_spec

from db.models import Experiment

# Every numeric field of the tiny preset's spec, with how to reach it.
NUMERIC_PATHS = [
    ("d",),
    ("seeds",),
    ("max_memory_gb",),
    ("target", "noise"),
    ("model", "width"),
    ("model", "second_layer_scale"),
    ("model", "bias_scale"),
    ("phase1", "batch_size"),
    ("phase1", "passes"),
    ("phase1", "clip"),
    ("phase1", "stages", 0, "samples"),
    ("phase1", "stages", 0, "lr"),
    ("phase1", "stages", 0, "inner_lr"),
    ("phase2", "bias_range"),
    ("phase2", "samples"),
    ("phase2", "holdout"),
    ("phase2", "ridge_grid", 0),
    ("eval", "test_samples"),
    ("eval", "points"),
    ("eval", "every"),
    ("eval", "weak_recovery_threshold"),
]
HOSTILE = ["NaN", "-Infinity", "1e309"]
PLACEHOLDER = 123456.789


def _raw_body(path: tuple[str | int, ...], literal: str) -> str:
    spec: Any = copy.deepcopy(tiny_spec())
    spec["target"] = {"hermite": {"3": 1.0}}
    spec.setdefault("phase2", {}).setdefault("ridge_grid", [1e-3])
    node = spec
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    node[path[-1]] = PLACEHOLDER
    return json.dumps({"spec": spec}).replace(str(PLACEHOLDER), literal)


def _named(detail: list[dict[str, Any]], path: tuple[str | int, ...]) -> bool:
    """Some error's loc or message names the field (its last segment)."""
    last = str(path[-1]) if not isinstance(path[-1], int) else str(path[-2])
    return any(
        last in [str(part) for part in error["loc"]] or last in error["msg"] for error in detail
    )


@pytest.mark.parametrize("literal", HOSTILE)
@pytest.mark.parametrize("path", NUMERIC_PATHS, ids=lambda p: ".".join(map(str, p)))
def test_non_finite_numbers_are_a_422_naming_the_field(client, session_factory, path, literal):
    body = _raw_body(path, literal)
    for url in ("/experiments/validate", "/experiments"):
        response = client.post(url, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (url, response.status_code, response.text[:300])
        assert _named(response.json()["detail"], path), response.text[:500]
    with session_factory() as session:
        assert session.query(Experiment).count() == 0


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("phase1", "stages", 0, "lr"), "(-8)**(1/3)", "lr"),  # complex in Python
        (("phase1", "stages", 0, "lr"), "1e308*10", "lr"),
        (("phase1", "stages", 0, "samples"), "exp(1000)", "samples"),
        (("phase1", "stages", 0, "samples"), "1e300", "samples"),
        (("model", "width"), "10**60", "width"),
        (("eval", "every"), "d**64", "every"),
        (("target", "theta"), [0.0] * 8, "theta"),
        (("target", "theta"), [1e300] * 8, "theta"),
        (("target", "hermite"), {"3": 1e308}, "hermite"),
        (("target", "hermite"), {"3": 1e-300}, "hermite"),
        (("model", "activation"), {"hermite": {"3": 1e308}}, "hermite"),
    ],
)
def test_absurd_values_are_a_422_naming_the_field(client, spec, path, value, named):
    spec["target"] = {"hermite": {"3": 1.0}}
    node = spec
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    for url in ("/experiments/validate", "/experiments"):
        response = client.post(url, json={"spec": spec})
        assert response.status_code == 422, (url, response.status_code, response.text[:300])
        assert named in response.text, response.text[:500]
