"""Worker test fixtures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from worker_helpers import insert_experiment, small_spec

from worker.config import WorkerSettings


@pytest.fixture
def add_experiment(session_factory: sessionmaker[Session]) -> Callable[..., int]:
    def add(spec: dict[str, Any] | None = None, **columns: Any) -> int:
        return insert_experiment(session_factory, spec or small_spec(), **columns)

    return add


@pytest.fixture
def worker_settings() -> WorkerSettings:
    """Fast heartbeats; checkpoints at every chance; a lease a live run never loses."""
    return WorkerSettings(
        lease_seconds=30, heartbeat_seconds=0.1, checkpoint_seconds=0.01, device="cpu"
    )
