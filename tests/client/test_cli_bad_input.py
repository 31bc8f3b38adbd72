"""Every `silab` command, on bad input, answers one line on stderr and an exit code: never a
traceback. The commands are read from the parser itself, so a new command is covered too."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from client.cli import parser
from tests.client.test_client_cli import CLOSED, silab


def command_paths() -> list[tuple[str, ...]]:
    """('submit',), ('sweep', 'show'), ...: every leaf command of the parser."""
    out: list[tuple[str, ...]] = []

    def walk(p: argparse.ArgumentParser, prefix: tuple[str, ...]) -> None:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            out.append(prefix)
            return
        for name, child in subs[0].choices.items():
            walk(child, (*prefix, name))

    walk(parser(), ())
    return out


def positionals(path: tuple[str, ...]) -> list[str]:
    p = parser()
    for name in path:
        p = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return [a.dest for a in p._actions if not a.option_strings and a.dest != "help"]


def bad_inputs(path: tuple[str, ...], tmp: Path) -> list[list[str]]:
    """For one command: a typo'd option, then bad values for each positional."""
    cases = [[*path, "--no-such-option"]]
    args = positionals(path)
    if args:
        cases.append(list(path))  # a required argument missing
    if "id" in args:
        rest = ["high"] if "priority" in args else []
        cases += [[*path, "not-a-number", *rest], [*path, "999999", *rest]]  # not an int; no row
    if "priority" in args:
        cases += [[*path, "1", "urgent"], [*path, "1", "5000"]]  # not a level; out of range
    if "spec" in args:
        broken = tmp / "broken.yaml"
        broken.write_text("d: [16,\n")
        cases += [[*path, str(tmp / "missing.yaml")], [*path, str(broken)], [*path, "preset:nope"]]
    if "file" in args:
        broken = tmp / "broken-sweep.yaml"
        broken.write_text("axes:\n  - path: d\n   values: [1]\n")
        typo = tmp / "typo-sweep.yaml"
        typo.write_text("base: preset:tiny\naxis:\n  - {path: d, values: [16]}\n")
        cases += [[*path, str(tmp / "missing.yaml")], [*path, str(broken)], [*path, str(typo)]]
    return cases


def assert_one_line(done, args) -> None:
    where = (args, done.stdout[-500:], done.stderr[-2000:])
    assert done.returncode in (1, 2), where
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, where
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("silab"), where
    assert "function-after" not in lines[0] and "[" not in lines[0].split(":")[0], where


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_command_on_bad_input_says_one_line(live_api, tmp_path, path) -> None:
    for args in bad_inputs(path, tmp_path):
        assert_one_line(silab(live_api, *args), args)


def valid_file(path: tuple[str, ...], tmp: Path) -> Path:
    """A file the command accepts, so that the server is the only thing missing."""
    if path == ("batch",):
        batch = tmp / "batch.yaml"
        batch.write_text("- preset:tiny\n- {spec: preset:tiny, priority: 1}\n")
        return batch
    return Path(__file__).parents[2] / "sweeps" / "fig1a.yaml"


def test_every_command_with_the_server_down_says_one_line(live_api, tmp_path) -> None:
    for path in command_paths():
        args = [*path, *(["1"] if "id" in positionals(path) else [])]
        if "priority" in positionals(path):
            args.append("high")
        if "spec" in positionals(path):
            args.append("preset:tiny")
        if "file" in positionals(path):
            args.append(str(valid_file(path, tmp_path)))
        if path == ("login",):
            args += ["--key", "silab_x"]
        done = silab(live_api, *args, url=CLOSED, SILAB_RETRY_S="0")
        assert_one_line(done, args)
        assert "cannot reach the silab API" in done.stderr, (args, done.stderr)


def test_typos_get_a_suggestion(live_api) -> None:
    done = silab(live_api, "sumbit", "preset:tiny")
    assert done.returncode == 2 and "did you mean 'submit'?" in done.stderr
    done = silab(live_api, "list", "--stauts", "running")
    assert done.returncode == 2 and "did you mean '--status'?" in done.stderr
    done = silab(live_api, "sweep", "shwo", "1")
    assert done.returncode == 2 and "did you mean 'show'?" in done.stderr


def test_a_broken_sweep_yaml_is_one_line_naming_the_line(live_api, tmp_path) -> None:
    broken = tmp_path / "sweep.yaml"
    broken.write_text("name: x\naxes:\n  - path: d\n   values: [1]\n")
    done = silab(live_api, "sweep", "submit", str(broken))
    assert done.returncode == 2 and "is not valid YAML at line 4" in done.stderr, done.stderr


def test_sweep_validation_names_the_field_without_pydantic_internals(live_api, tmp_path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("base: preset:tiny\naxes:\n  - {path: d, values: []}\n")
    done = silab(live_api, "sweep", "submit", str(sweep))
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("silab: 422 Unprocessable") and "axes.0" in done.stderr
    assert "function-after" not in done.stderr and "AxisCreate" not in done.stderr


def test_version_and_help_exit_zero(live_api) -> None:
    version = silab(live_api, "--version")
    assert version.returncode == 0 and version.stdout.startswith("silab ")
    assert silab(live_api, "--help").returncode == 0


def test_a_misspelt_sweep_field_gets_a_suggestion(live_api, tmp_path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("base: preset:tiny\naxis:\n  - {path: d, values: [16]}\n")
    done = silab(live_api, "sweep", "submit", str(sweep))
    assert done.returncode == 1 and "did you mean 'axes'?" in done.stderr, done.stderr
