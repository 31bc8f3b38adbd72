"""Property-based (hypothesis): a valid spec with one to three hostile edits (any value in any
field, NaN and ±Infinity, huge and negative numbers, hostile expressions, wrong types, missing
and unknown keys) is answered 200/201 or a 422 whose every error names a field, never a 500;
/validate accepts exactly what submit stores, submit stores it as /validate normalized it, and
a 422 stores nothing.

The bodies are raw text (json.dumps writes NaN and Infinity, which Python's json module and so
FastAPI read); the app is built once per database and each example counts the rows itself."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import tiny_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db.models import Experiment

pytestmark = pytest.mark.slow

# Examples per database: a few seconds each, and enough to have found every case test_hostile
# numbers lists by hand.
MAX_EXAMPLES = 150

# Where an edit may land: every field of the tiny preset, nested ones included, and a few that
# it leaves to their defaults.
PATHS: list[tuple[str | int, ...]] = [
    ("d",),
    ("seeds",),
    ("dtype",),
    ("device",),
    ("max_memory_gb",),
    ("target",),
    ("target", "noise"),
    ("target", "hermite", "3"),
    ("model",),
    ("model", "width"),
    ("model", "activation"),
    ("model", "activation", "hermite", "3"),
    ("model", "second_layer_scale"),
    ("model", "bias_scale"),
    ("phase1",),
    ("phase1", "algorithm"),
    ("phase1", "batch_size"),
    ("phase1", "passes"),
    ("phase1", "clip"),
    ("phase1", "stages"),
    ("phase1", "stages", 0),
    ("phase1", "stages", 0, "samples"),
    ("phase1", "stages", 0, "steps"),
    ("phase1", "stages", 0, "lr"),
    ("phase1", "stages", 0, "inner_lr"),
    ("phase2",),
    ("phase2", "samples"),
    ("phase2", "bias_range"),
    ("phase2", "holdout"),
    ("phase2", "ridge_grid"),
    ("eval",),
    ("eval", "test_samples"),
    ("eval", "points"),
    ("eval", "every"),
    ("eval", "weak_recovery_threshold"),
]

EXPRESSIONS = [
    "1/0",
    "(-8)**(1/3)",
    "d**d**d",
    "10**400",
    "1e309",
    "-1e309",
    "log(0)",
    "sqrt(-1)",
    "exp(1000)",
    "0*d",
    "-d",
    "nan",
    "inf",
    "d*",
    "__import__('os').getpid()",
    "().__class__",
    "9" * 400,
    "8*d",
    "0.3/d",
    "",
]

LEAF = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(EXPRESSIONS),
    st.text(max_size=20),
    st.none(),
    st.booleans(),
)
VALUE = st.one_of(
    LEAF,
    st.lists(LEAF, max_size=3),
    st.dictionaries(st.text(max_size=6), LEAF, max_size=2),
)
# ("set", path, value), ("drop", path) or ("add", path, unknown key name).
EDIT = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(PATHS), VALUE),
    st.tuples(st.just("drop"), st.sampled_from(PATHS)),
    st.tuples(st.just("add"), st.sampled_from(PATHS), st.text(min_size=1, max_size=8)),
)


def _base() -> dict[str, Any]:
    spec: Any = copy.deepcopy(tiny_spec())
    spec["target"] = {"hermite": {"3": 1.0}, "noise": 0.0}
    return spec


def _apply(spec: dict[str, Any], edit: tuple[Any, ...]) -> None:
    """Apply one edit where its path still leads somewhere (an earlier edit may have replaced a
    parent with a number: then this one does nothing)."""
    kind, path = edit[0], edit[1]
    node: Any = spec
    for part in path[:-1]:
        if isinstance(node, dict) and isinstance(part, str):
            node = node.setdefault(part, {})
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return
    last = path[-1]
    if isinstance(node, dict) and isinstance(last, str):
        if kind == "set":
            node[last] = edit[2]
        elif kind == "drop":
            node.pop(last, None)
        elif isinstance(node.get(last), dict):
            node[last][edit[2]] = 1
        else:
            node[edit[2]] = 1  # an unknown key beside it
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        if kind == "set":
            node[last] = edit[2]
        elif kind == "drop":
            del node[last]


def _names_a_field(response: Any) -> bool:
    detail = response.json().get("detail")
    return (
        isinstance(detail, list)
        and len(detail) > 0
        and all(
            isinstance(error.get("loc"), list)
            and len(error["loc"]) >= 2
            and error["loc"][0] == "body"
            and error.get("msg")
            for error in detail
        )
    )


def _rows(session_factory: Any) -> int:
    with session_factory() as session:
        return session.query(Experiment).count()


def test_hostile_specs_get_a_422_naming_a_field_and_validate_agrees_with_submit(
    make_client, session_factory
) -> None:
    client = make_client(default_max_queued=10 * MAX_EXAMPLES)
    found: list[str] = []

    @given(edits=st.lists(EDIT, min_size=1, max_size=3))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(edits: list[tuple[Any, ...]]) -> None:
        spec = _base()
        for edit in edits:
            _apply(spec, edit)
        body = json.dumps({"spec": spec})
        headers = {"Content-Type": "application/json"}
        before = _rows(session_factory)
        checked = client.post("/experiments/validate", content=body, headers=headers)
        submitted = client.post("/experiments", content=body, headers=headers)
        case = f"{edits!r} -> validate {checked.status_code}, submit {submitted.status_code}"
        assert checked.status_code in (200, 422), (case, checked.text[:500])
        assert submitted.status_code in (201, 422), (case, submitted.text[:500])
        assert (checked.status_code == 200) == (submitted.status_code == 201), (
            case,
            checked.text[:300],
            submitted.text[:300],
        )
        if submitted.status_code == 422:
            assert _names_a_field(checked) and _names_a_field(submitted), (
                case,
                submitted.text[:500],
            )
            assert _rows(session_factory) == before, case
            found.append("422")
        else:
            assert _rows(session_factory) == before + 1, case
            stored = submitted.json()
            assert stored["spec"] == checked.json()["spec"], case
            assert stored["spec_hash"] == checked.json()["spec_hash"], case
            found.append("201")

    check()
    # Both answers were exercised, or the strategy is broken and proves nothing.
    assert {"201", "422"} <= set(found), found
