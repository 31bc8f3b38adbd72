"""What the client reads from files and dicts: a spec (or `preset:NAME`) with `key.path=value`
overrides, a batch file, a sweep file. ValueError with a one-line message when it cannot be
read; the server validates the contents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def load_spec(source: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> dict:
    """A raw spec mapping from a dict, `preset:NAME`, or a JSON/YAML file, with `key.path=value`
    overrides applied. ValueError with a clear message when it cannot be read."""
    if isinstance(source, Mapping):
        spec = dict(source)
    elif Path(str(source)).is_file():
        spec = _parse_file(Path(str(source)), "spec")
    else:  # preset:NAME, or a missing file (trainer.presets says which presets exist)
        from trainer import presets

        spec = presets.load_spec(str(source))
    if overrides:
        from trainer.presets import apply_overrides

        spec = apply_overrides(spec, list(overrides))
    return spec


def load_batch(path: str | Path) -> list[Any]:
    """The items of a batch file: a YAML/JSON list (or a mapping with `items`), or JSON lines
    (`.jsonl`); each item a spec or a submission with a `spec` key. ValueError in one line."""
    import json

    import yaml

    path = Path(path)
    try:
        text = path.read_text()
        if path.suffix == ".jsonl":
            loaded: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            loaded = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"batch file {str(path)!r} cannot be read: {reason}") from None
    if isinstance(loaded, Mapping) and isinstance(loaded.get("items"), list):
        loaded = loaded["items"]
    if not isinstance(loaded, list) or not loaded:
        raise ValueError(f"batch file {str(path)!r}: expected a non-empty list of specs or items")
    return loaded


def _parse_file(path: Path, what: str) -> dict[str, Any]:
    """A YAML/JSON mapping from a file; ValueError in one line (with the line and column of a
    syntax error) when it cannot be read."""
    import yaml

    from trainer.spec import parse_text

    try:
        return parse_text(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"{what} file {str(path)!r} is not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{what} file {str(path)!r} is not text (UTF-8)") from None
    except OSError as error:
        raise ValueError(f"{what} file {str(path)!r} cannot be read: {error.strerror}") from None
    except ValueError as error:
        raise ValueError(f"{what} file {str(path)!r}: {error}") from None


def load_sweep(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A sweep body from a dict or a YAML/JSON file. `base` may be a spec mapping, `preset:NAME`
    or a spec file (relative to the sweep file); `set: {key.path: value}` then overrides fields of
    the base (like `silab submit --set`). ValueError with a clear message when it cannot be
    read."""
    if isinstance(source, Mapping):
        sweep, folder = dict(source), Path.cwd()
    else:
        path = Path(str(source))
        if not path.is_file():
            raise ValueError(f"sweep file {str(source)!r} does not exist")
        sweep, folder = _parse_file(path, "sweep"), path.parent
    base = sweep.get("base")
    if isinstance(base, str):
        relative = folder / base
        base = load_spec(str(relative) if relative.is_file() else base)
    overrides = sweep.pop("set", None) or {}
    if not isinstance(overrides, Mapping):
        raise ValueError("a sweep's 'set' must be a mapping {key.path: value}")
    if overrides:
        import json

        base = load_spec(
            base or {}, [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
        )
    sweep["base"] = base
    return sweep
