"""Canonical JSON, the one text of a JSON value (keys sorted, no spaces), and its sha256.

Every hash the service stores or compares is this one: the spec hash, the fused shape key, the
sweep hash, an idempotency key's request hash and the plot cache's key. So two equal values give
one hash everywhere, and changing the text (which would orphan every stored hash) is one edit,
made on purpose. Torch-free.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any


def canonical_json(value: Any, *, default: Callable[[Any], Any] | None = None) -> str:
    """`default` turns what JSON cannot write into what it can (json.dumps' own argument)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=default)


def canonical_hash(value: Any, *, default: Callable[[Any], Any] | None = None) -> str:
    """sha256 (hex) of canonical_json(value)."""
    return hashlib.sha256(canonical_json(value, default=default).encode()).hexdigest()
