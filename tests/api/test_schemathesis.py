"""Property-based run over the whole OpenAPI schema (schemathesis), in process against the ASGI
app, with a valid admin key: whatever the inputs, no 5xx. Bounded: a few derandomized examples
per operation (schemathesis' pytest plugin is bypassed: each operation's strategy is driven by
hypothesis here, inside one test, so the app fixture is built once per database)."""

from __future__ import annotations

import pytest
import schemathesis
from conftest import bearer
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.slow

# Examples per operation (x ~30 operations x 2 databases): under a minute in all here.
MAX_EXAMPLES = 40


def test_no_server_errors(make_client, keys) -> None:
    client = make_client(user="root")  # the app, its database and broker; rate limit off
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    headers = bearer(keys["root"])
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> "
                    f"{response.status_code}: {response.text[:300]}"
                )

        check()
    assert operations >= 20
    assert not failures, "\n".join(failures[:20])
