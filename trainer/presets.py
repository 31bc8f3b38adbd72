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

from trainer.paths import set_path
from trainer.spec import parse_text

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
    """A copy of `spec` with one `key.path=value` assignment applied (trainer.paths.set_path).
    Raises ValueError naming the assignment on a bad path."""
    key, sep, raw = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--set {assignment!r}: expected KEY.PATH=VALUE, e.g. phase1.n=1024")
    result = copy.deepcopy(spec)
    try:
        set_path(result, key, parse_value(raw))
    except ValueError as error:
        raise ValueError(f"--set {assignment!r}: {error}") from None
    return result


def apply_overrides(spec: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    for assignment in assignments:
        spec = apply_override(spec, assignment)
    return spec
