"""The settings: every field of every pydantic-settings class is a row of docs/design.md's table,
naming the class that reads it, and no setting is declared in two classes (a setting the API and
the worker both read is db.config.LabSettings', which both extend)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic_settings import BaseSettings

import api.config
import client.config
import db.config
import worker.config

ROOT = Path(__file__).resolve().parents[1]
CONFIG_MODULES = (db.config, api.config, worker.config, client.config)
PACKAGES = ("api", "db", "worker", "client", "trainer")


def _settings_classes() -> list[type[BaseSettings]]:
    names = {module.__name__ for module in CONFIG_MODULES}
    found, todo = [], list(BaseSettings.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__ in names and cls not in found:
            found.append(cls)
    return sorted(found, key=lambda cls: cls.__name__)


def _own_fields(cls: type[BaseSettings]) -> list[str]:
    """The fields `cls` declares itself (not those it inherits)."""
    return [name for name in cls.__annotations__ if name in cls.model_fields]


def _variable(cls: type[BaseSettings], field: str) -> str:
    alias = cls.model_fields[field].validation_alias
    if isinstance(alias, str):
        return alias.upper()
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def _table() -> dict[str, list[str]]:
    """docs/design.md's settings table: each variable named in a row's first cell -> the row's
    cells."""
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for name in re.findall(r"`(SILAB_\w+)`", cells[0]):
            rows[name] = cells
    return rows


def test_only_the_config_modules_declare_settings() -> None:
    allowed = {Path(module.__file__ or "").resolve() for module in CONFIG_MODULES}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "BaseSettings" in path.read_text():
                assert path.resolve() in allowed, f"{path}: settings belong in a config module"


def test_every_setting_is_a_row_of_the_table_naming_its_class() -> None:
    table = _table()
    missing, unnamed = [], []
    for cls in _settings_classes():
        for field in _own_fields(cls):
            variable = _variable(cls, field)
            row = table.get(variable)
            if row is None:
                missing.append(f"{variable} ({cls.__name__}.{field})")
            elif len(row) < 4 or f"`{cls.__name__}`" not in row[2] or not row[1] or not row[3]:
                unnamed.append(variable)
    assert not missing, f"docs/design.md's settings table lacks {missing}"
    assert not unnamed, f"rows without a default, `{{class}}` in 'read by' or a meaning: {unnamed}"


def test_the_table_lists_no_setting_that_does_not_exist() -> None:
    real = {_variable(cls, f) for cls in _settings_classes() for f in cls.model_fields}
    assert set(_table()) - real == set()


def test_no_setting_is_declared_in_two_classes() -> None:
    """The client is left out: it talks to the server over HTTP only and reads SILAB_DATA_DIR
    for the embedded server's admin key, the same folder LocalSettings names."""
    declared: dict[str, list[str]] = {}
    for cls in _settings_classes():
        if cls is client.config.ClientSettings:
            continue
        for field in _own_fields(cls):
            declared.setdefault(_variable(cls, field), []).append(cls.__name__)
    twice = {variable: owners for variable, owners in declared.items() if len(owners) > 1}
    assert not twice, f"declare each once (shared ones in db.config.LabSettings): {twice}"
    local = db.config.LocalSettings.model_fields["data_dir"].default
    assert client.config.ClientSettings.model_fields["data_dir"].default == local


def test_the_api_and_the_worker_read_the_shared_settings_from_one_class() -> None:
    assert issubclass(api.config.ApiSettings, db.config.LabSettings)
    assert issubclass(worker.config.WorkerSettings, db.config.LabSettings)
