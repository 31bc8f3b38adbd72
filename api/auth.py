"""Authentication plumbing: the first-start admin key and the bearer scheme in the OpenAPI
document (the per-key rate limit is api.ratelimit's). Who may do what is decided in api/deps.py.

Open routes (no key needed): /health, /ready and /metrics, so that probes and Prometheus scrape
without a secret (they reveal counts, never specs, names or results), and FastAPI's /docs,
/redoc, /openapi.json and /meta (the API's shape and names are not a secret). Everything else needs
`Authorization: Bearer <key>`, including any route added later: the check is an app-wide
dependency, not a per-router one.
"""

from __future__ import annotations

import logging
import math
import os
import stat
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from api import accounts, audit
from db import locks
from db.models import Role

log = logging.getLogger(__name__)

# "/" only redirects to the dashboard (/ui, static files that call the API with a key).
OPEN_PATHS = frozenset({"/", "/health", "/ready", "/metrics", "/meta"})
ADMIN_KEY_FILE = "admin.key"
BOOTSTRAP_ADMIN = "admin"


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def bootstrap_admin(sessions: sessionmaker[Session], data_dir: Path) -> Path | None:
    """On a database without any account: create the account `admin` and a key for it, written to
    <data_dir>/admin.key (mode 0600), where the local `silab` client finds it. Says so once in the
    log (never the key itself). Returns the file, or None when nothing was created (accounts
    exist, another process won the race, or the schema is not migrated yet).

    Exactly once when several API processes start together (`uvicorn --workers N`): the account
    table is locked before it is counted (db.locks), so a second process counts after the first
    has committed and finds its account."""
    try:
        with sessions() as session:
            locks.lock_account_table(session=session)
            if accounts.count_accounts(session=session):
                return None
            account = accounts.create_account(BOOTSTRAP_ADMIN, session=session, role=Role.admin)
            _, key = accounts.create_key(account, session=session, label="first start")
            audit.record(
                "create_user",
                session=session,
                actor="silab",
                detail={"user": BOOTSTRAP_ADMIN, "role": Role.admin},
            )
            path = data_dir.expanduser().resolve() / ADMIN_KEY_FILE
            _write_secret(path, key)
            session.commit()
    except IntegrityError:
        return None  # another API process created it first
    except (OperationalError, ProgrammingError) as error:
        log.warning(
            "silab: no admin key created: the database is not ready (%s); run "
            "`alembic upgrade head`",
            str(error).splitlines()[0],
        )
        return None
    log.warning(
        "silab: first start: created the admin account %r; its API key is in %s "
        "(mode 0600), where the local `silab` client reads it. Add users with "
        "`silab-admin create-user NAME` and `silab-admin create-key NAME`.",
        BOOTSTRAP_ADMIN,
        path,
    )
    return path


def _write_secret(path: Path, text: str) -> None:
    # The folder also holds the SQLite database: new ones are 0700, and an existing one that
    # others may read or enter loses those bits (a 0600 file in a world-listable folder still
    # shows that the key exists, and the database next to it is readable).
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.parent.stat().st_mode)
    if mode & 0o007:
        os.chmod(path.parent, mode & ~0o007)
        log.warning("silab: %s was accessible to other users; removed their access", path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, (text + "\n").encode())
    finally:
        os.close(descriptor)


def install_openapi_security(app: FastAPI) -> None:
    """Declare the bearer scheme and require it on every operation but the open ones (the check
    itself reads the header in api.deps, so that it can be app-wide)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "an API key: `silab-admin create-key NAME`",
        }
        for path, operations in schema.get("paths", {}).items():
            if path in OPEN_PATHS:
                continue
            for operation in operations.values():
                operation["security"] = [{"bearer": []}]
                operation.setdefault("responses", {}).setdefault(
                    "401", {"description": "missing, unknown, revoked or expired API key"}
                )
                operation["responses"].setdefault(
                    "429", {"description": "rate limit or queued-experiments limit"}
                )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
