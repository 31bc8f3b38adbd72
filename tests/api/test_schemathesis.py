"""Property-based run over the whole OpenAPI schema (schemathesis), in process against the ASGI
app, with a valid admin key. Every case is schema-valid (schemathesis' positive generation); half
of each operation's cases name an experiment and a sweep that exist, so the handlers behind the
ids see the generated query parameters too. Two promises, schemathesis' `not_a_server_error` and
`positive_data_acceptance` made precise for this API:

- no server error: no 5xx, whatever the inputs;
- no schema-valid request rejected: a request the OpenAPI document allows is not refused as
  malformed. Answers that are not about the request's form are not rejections: 401 and 403 (the
  key), 404 (an id that does not exist), 409 (a state conflict), 429 (a limit). Every other 4xx
  is one, except
  - a 422 all of whose issues have a type of trainer.spec.Unstated: rules JSON Schema cannot
    state (one field's value against another's, an expression's grammar and value at the
    spec's d and N, what the addressed sweep holds); they are counted, by type, and reported;
  - a 400 that the same request without its `cursor` does not get: a cursor this API did not
    issue is, like an id that does not exist, a well-formed request for nothing.

Bounded: a few dozen derandomized examples per operation (schemathesis' pytest plugin is
bypassed: each operation's strategy is driven by hypothesis here, inside one test, so the app is
built once per database). `--schema-fuzz-results PATH` writes the counts as JSON
(docs/results/schema_fuzz.json)."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from conftest import bearer, tiny_spec
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer.spec import Unstated

pytestmark = pytest.mark.slow

# Examples per operation (x ~30 operations x 2 databases).
MAX_EXAMPLES = 20
NOT_ABOUT_FORM = {401, 403, 404, 409, 429}
UNSTATED = {kind.value for kind in Unstated}


def verdict(case: Any, response: Any, client: TestClient) -> str:
    """'server error', 'rejected', 'unstated: <type>', 'cursor not issued' or 'ok'."""
    code = response.status_code
    if code >= 500:
        return "server error"
    if code < 400 or code in NOT_ABOUT_FORM:
        return "ok"
    if code == 422:
        issues = response.json().get("detail")
        types = {issue.get("type") for issue in issues} if isinstance(issues, list) else set()
        if types and types <= UNSTATED:
            return "unstated: " + ",".join(sorted(types))
    if code == 400 and case.query and "cursor" in case.query:
        query = {k: v for k, v in case.query.items() if k != "cursor"}
        again = client.request(case.method, case.formatted_path, params=query)
        if again.status_code < 400 or again.status_code in NOT_ABOUT_FORM:
            return "cursor not issued"
    return "rejected"


def describe(case: Any, response: Any) -> str:
    """The request and what was wrong with it (a 422's issues of stated rules only)."""
    answer = response.text
    if response.status_code == 422 and isinstance(response.json().get("detail"), list):
        issues = response.json()["detail"]
        answer = json.dumps([issue for issue in issues if issue.get("type") not in UNSTATED])
    body = case.body if isinstance(case.body, (dict, list)) else None
    sent = json.dumps({"query": case.query, "body": body}, default=str)
    where = f"{case.method} {case.formatted_path}"
    return f"{where} -> {response.status_code}: {answer[:400]}\n  sent {sent[:300]}"


def test_no_server_errors_and_no_schema_valid_request_rejected(make_client, keys, request) -> None:
    client = make_client(user="root")  # the app, its database and broker; rate limit off
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    headers = bearer(keys["root"])
    sweep = {"base": tiny_spec(), "axes": [{"path": "d", "values": [8, 16]}]}
    sweep_id = client.post("/sweeps", json=sweep, headers=headers).json()["id"]
    verdicts: collections.Counter[str] = collections.Counter()
    rejected: collections.Counter[str] = collections.Counter()  # by operation
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        # A fresh experiment per operation: DELETE, cancel and retry change theirs.
        made = client.post("/experiments", json={"spec": tiny_spec()}, headers=headers)
        existing = {"experiment_id": made.json()["id"], "sweep_id": sweep_id}
        names = re.findall(r"{(\w+)}", operation.path)
        pinned = {name: existing[name] for name in names if name in existing}
        strategy = operation.as_strategy()
        if pinned:
            strategy = st.one_of(strategy, operation.as_strategy(path_parameters=pinned))

        @given(case=strategy)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            response = case.call(headers=headers)
            outcome = verdict(case, response, client)
            verdicts[outcome] += 1
            if outcome == "rejected":
                rejected[f"{case.method} {case.path}"] += 1
            if outcome in ("server error", "rejected"):
                failures.append(f"{outcome}: {describe(case, response)}")

        check()
    figures = {
        "operations": operations,
        "examples_per_operation": MAX_EXAMPLES,
        "cases": sum(verdicts.values()),
        "server_errors": verdicts["server error"],
        "schema_valid_rejected": verdicts["rejected"],
        "schema_valid_rejected_by_operation": dict(sorted(rejected.items())),
        "not_rejections": {
            k: v for k, v in sorted(verdicts.items()) if k not in ("server error", "rejected")
        },
    }
    print(f"\nschema fuzz {request.node.name}: {json.dumps(figures)}")
    target = request.config.getoption("schema_fuzz_results", None)
    if target:
        path = Path(target)
        document = json.loads(path.read_text()) if path.exists() else {}
        document[request.node.callspec.id] = figures
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    assert operations >= 20
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:30])
