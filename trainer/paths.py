"""Dotted paths into a spec's JSON ("phase1.stages.0.lr"): the one setter behind the CLI's
`--set KEY.PATH=VALUE` (trainer.presets) and a sweep's axes (api.expand). Torch-free.

Parts index mappings by key and lists by position. A missing or null mapping on the way is
created (validation later refuses names the spec does not know), and a target shorthand ("h3")
becomes the mapping it stands for, so that `target.noise` can be set on it.
"""

from __future__ import annotations

import copy
from typing import Any

from trainer.spec import target_preset


def set_path(spec: dict[str, Any], path: str, value: Any) -> None:
    """spec[path] = a copy of value, in place; ValueError saying which part of the path is bad
    (the caller names the path's source: an axis, a --set)."""
    parts = path.split(".")
    if any(not part for part in parts):
        raise ValueError(f"empty part in the key path {path!r}")
    node: Any = spec
    for depth, part in enumerate(parts):
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(
                    f"{where!r} is not a valid position in a list of {len(node)} item(s) "
                    f"(positions 0..{len(node) - 1})"
                )
            index: Any = int(part)
        elif isinstance(node, dict):
            index = part
        else:
            parent = ".".join(parts[:depth])
            raise ValueError(
                f"{parent!r} is {node!r}, not a mapping or list, so it has no field {part!r}"
            )
        if depth == len(parts) - 1:
            node[index] = copy.deepcopy(value)
            return
        child = node[index] if isinstance(node, list) else node.get(index)
        if child is None:
            child = node[index] = {}
        elif depth == 0 and index == "target" and isinstance(child, str):
            child = node[index] = {"hermite": target_preset(child)}
        node = child
