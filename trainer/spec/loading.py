"""A spec from a dict, a file or a JSON/YAML text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.spec.experiment import ExperimentSpec


def load(source: str | Path | dict[str, Any]) -> ExperimentSpec:
    """An ExperimentSpec from a dict, a JSON/YAML file path, or a JSON/YAML text."""
    if isinstance(source, dict):
        return ExperimentSpec.model_validate(source)
    text = Path(source).read_text() if Path(str(source)).exists() else str(source)
    return ExperimentSpec.model_validate(parse_text(text))


def parse_text(text: str) -> dict[str, Any]:
    """JSON or YAML text to a dict (YAML is a superset of JSON, so one parser reads both)."""
    import yaml

    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("a spec must be a mapping at the top level")
    return data
