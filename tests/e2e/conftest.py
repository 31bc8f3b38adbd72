"""End-to-end fixtures (the helpers are in e2e_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_helpers import Stack


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[Callable[[str, str], Stack]]:
    stacks: list[Stack] = []

    def make(database_url: str, broker_url: str) -> Stack:
        stack = Stack(tmp_path, database_url, broker_url)
        (tmp_path / "data").mkdir(exist_ok=True)
        stacks.append(stack)
        return stack

    try:
        yield make
    finally:
        for stack in stacks:
            stack.close()
