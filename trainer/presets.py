"""Named experiment specs shipped with the package, `--set key.path=value` overrides; torch-free.

A preset is a YAML file in trainer/presets/ whose leading comment says where its numbers come
from. `load_spec("preset:NAME")` or `load_spec("path/to/spec.yaml")` returns the raw mapping;
`apply_overrides` edits it; `trainer.spec.load` validates the result.
"""

from __future__ import annotations

import copy
import re
from importlib import resources
from pathlib import Path
from typing import Any

from trainer.spec import TARGET_PRESETS, parse_text

PRESET_PREFIX = "preset:"
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _directory() -> Path:
    return Path(str(resources.files("trainer") / "presets"))


def names() -> list[str]:
    """The preset names, sorted."""
    return sorted(path.stem for path in _directory().glob("*.yaml"))


def path(name: str) -> Path:
    """The YAML file of a preset; ValueError naming the known presets if there is none."""
    candidate = _directory() / f"{name}.yaml"
    if not candidate.is_file():
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(names())}")
    return candidate


def text(name: str) -> str:
    return path(name).read_text()


def description(name: str) -> str:
    """The preset's leading comment, joined into one line."""
    lines = []
    for line in text(name).splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)


def load(name: str) -> dict[str, Any]:
    """A preset's raw spec mapping (not yet validated)."""
    return parse_text(text(name))


def load_spec(source: str) -> dict[str, Any]:
    """The raw spec mapping of `preset:NAME` or of a JSON/YAML file path.

    Raises ValueError with a message naming the preset or the file when it cannot be read.
    """
    if source.startswith(PRESET_PREFIX):
        return load(source[len(PRESET_PREFIX) :])
    import yaml

    file = Path(source)
    if not file.is_file():
        hint = f"; did you mean preset:{source}?" if source in names() else ""
        raise ValueError(f"spec file {source!r} does not exist{hint}")
    try:
        return parse_text(file.read_text())
    except ValueError as error:
        raise ValueError(f"spec file {source!r}: {error}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ValueError(f"spec file {source!r} is not valid JSON or YAML: {error}") from None


def parse_value(raw: str) -> Any:
    """A --set value as a YAML scalar (or flow collection): 64 → int, 0.1 → float, 1e-3 → float,
    "0.3/d" → str, [0, 1] → list, {3: 1.0} → dict, null → None."""
    import yaml

    if _NUMBER.fullmatch(raw.strip()):
        number = float(raw)
        return int(raw) if re.fullmatch(r"[+-]?\d+", raw.strip()) else number
    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        return raw


def apply_override(spec: dict[str, Any], assignment: str) -> dict[str, Any]:
    """A copy of `spec` with one `key.path=value` assignment applied.

    Path parts index mappings by key and lists by position (`phase1.stages.0.lr=0.1`); a missing
    mapping key is created (validation later rejects names the spec does not know), a missing
    or null parent becomes a mapping. Raises ValueError naming the assignment on a bad path.
    """
    key, sep, raw = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--set {assignment!r}: expected KEY.PATH=VALUE, e.g. phase1.n=1024")
    parts = key.split(".")
    if any(not part for part in parts):
        raise ValueError(f"--set {assignment!r}: empty part in the key path {key!r}")
    value = parse_value(raw)
    result = copy.deepcopy(spec)
    node: Any = result
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not re.fullmatch(r"\d+", part) or int(part) >= len(node):
                raise ValueError(
                    f"--set {assignment!r}: {where!r} is not a valid position in a list of "
                    f"{len(node)} item(s) (positions 0..{len(node) - 1})"
                )
            index: Any = int(part)
        elif isinstance(node, dict):
            index = part
        else:
            parent = ".".join(parts[:depth])
            raise ValueError(
                f"--set {assignment!r}: {parent!r} is {node!r}, not a mapping or list, so it "
                f"has no field {part!r}"
            )
        if last:
            node[index] = value
        else:
            child = node[index] if isinstance(node, list) else node.get(index)
            if child is None:
                child = {}
                node[index] = child
            elif depth == 0 and index == "target" and isinstance(child, str):
                child = _expand_target(child)
                node[index] = child
            node = child
    return result


def _expand_target(shorthand: str) -> dict[str, Any]:
    """`target: h3` as the mapping it stands for, so that `--set target.noise=0.1` works."""
    key = shorthand.replace(" ", "").lower()
    if key not in TARGET_PRESETS:
        raise ValueError(f"unknown target preset {shorthand!r}; known: {', '.join(TARGET_PRESETS)}")
    return {"hermite": dict(TARGET_PRESETS[key])}


def apply_overrides(spec: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    for assignment in assignments:
        spec = apply_override(spec, assignment)
    return spec
