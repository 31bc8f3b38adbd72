"""A revoked key stops working at the next request on every API process, not only on the one
that saw the revocation: two uvicorn processes on one database, the key revoked with
silab-admin (which writes the database directly), each process asked once more."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest
from e2e_helpers import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_a_revoked_key_is_refused_by_every_api_process(
    stack_factory: Any, sqlite_url: str, tmp_path: Any
) -> None:
    stack = stack_factory(sqlite_url, f"sqla+sqlite:///{tmp_path / 'data' / 'broker.db'}")
    apis = [stack.api(), stack.api()]

    def admin(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "api.admin", *args],
            cwd=ROOT,
            env=stack.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    admin("create-user", "erin")
    key = admin("create-key", "erin").splitlines()[-1].strip()
    headers = {"Authorization": f"Bearer {key}"}
    for api in apis:  # both processes have served (and could have cached) the key
        assert httpx.get(f"{api}/me", headers=headers, timeout=30).status_code == 200
    admin("revoke-key", key)
    for api in apis:
        assert httpx.get(f"{api}/me", headers=headers, timeout=30).status_code == 401, api
