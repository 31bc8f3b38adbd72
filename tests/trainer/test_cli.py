"""`python -m trainer`: runs a tiny preset end to end in a subprocess, writes the result JSON,
and turns bad input into one paragraph on stderr with exit status 2 (never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainer import cli

ROOT = Path(__file__).resolve().parents[2]


def python_m_trainer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_run_a_tiny_preset_writes_the_result_json(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "result.json"
    done = python_m_trainer(
        "run",
        "preset:tiny",
        "--out",
        str(out),
        "--set",
        "seeds=3",
        "--set",
        "phase1.stages.0.samples=4*d",
        "--device",
        "cpu",
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert document["status"] == "completed"
    assert [s["seed"] for s in document["seeds"]] == [0, 1, 2]
    assert document["spec"]["seeds"] == 3 and document["spec"]["d"] == 8
    assert document["spec"]["phase1"]["stages"][0]["samples"] == "4*d"
    assert document["samples"] == 32 and document["facts"]["phase1_samples"] == 32
    phases = [point["phase"] for point in document["trace"]]
    assert phases[0] == "phase1" and phases[-1] == "phase2"
    assert all(len(point["metrics"]["mean_abs_m"]) == 3 for point in document["trace"])
    assert "\r" not in done.stderr, "no progress bar when stderr is not a terminal"
    assert [p.name for p in out.parent.iterdir()] == ["result.json"], "no temporary files left"


def test_a_run_that_reaches_its_wall_clock_limit_exits_1_with_its_partial_result(
    tmp_path: Path,
) -> None:
    out = tmp_path / "result.json"
    endless = ["--set", "phase1.stages.0.samples=1e12", "--set", "max_wall_s=1e-9"]
    done = python_m_trainer("run", "preset:tiny", "--out", str(out), *endless, "--device", "cpu")
    assert done.returncode == 1, done.stderr
    document = json.loads(out.read_text())
    assert document["status"] == "timed_out"
    assert document["message"].startswith("wall-clock limit of 1e-09 s reached after ")


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", "preset:tiny", "--set", "phase1.stages.9.lr=1"], "phase1.stages.9"),
        (["run", "preset:tiny", "--set", "model.widht=3"], "model.widht"),
        (["run", "preset:tiny", "--set", "phase1.stages.0.lr=0.3/x"], "phase1.stages.0.lr"),
        (["run", "preset:nope"], "unknown preset 'nope'"),
        (["run", "does/not/exist.yaml"], "does not exist"),
        (["validate", "preset:tiny", "--set", "seeds=0"], "seeds"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path: Path, args: list[str], words: str) -> None:
    out = tmp_path / "result.json"
    if args[0] == "run":
        args = [*args, "--out", str(out)]
    done = python_m_trainer(*args)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and words in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, "one paragraph"
    assert not out.exists()


def test_validate_prints_the_facts(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", "preset:reference-reuse", "--set", "d=128"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["spec"]["d"] == 128
    assert document["facts"]["information_exponent"] == 3
    assert document["facts"]["phase1_samples"] == 40 * 128


def test_presets_lists_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["presets"]) == 0
    listing = capsys.readouterr().out
    for name in ("reference-reuse", "reference-online", "fig1a", "fig1b", "two-phase"):
        assert f"{name}\n" in listing


def test_write_atomic_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")
    cli.write_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
