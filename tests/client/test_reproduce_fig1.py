"""scripts/reproduce_fig1.py --only: the sweeps it does not rerun keep their summary.md sections
and run.json entries."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location(
        "reproduce_fig1", ROOT / "scripts" / "reproduce_fig1.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD_SUMMARY = """# Figure 1 through silab: generated tables

Means over seeds.

## Fig. 1(a): overlap (sweep 1), rows n, columns d

| n | d = 16 |
|---|---|
| 128 | 0.2 |

## Fig. 1(b): test error / E[y²] (sweep 2), rows n, columns d

| n | d = 16 |
|---|---|
| 256 | 0.6 |

## Weak recovery (sweep 3): old

| old scaling row |

Fitted exponents: old
"""


def test_only_keeps_the_other_sections(tmp_path):
    script = load_script()
    path = tmp_path / "summary.md"
    path.write_text(OLD_SUMMARY)
    script.write_summary(path, {"scaling": ["## Weak recovery (sweep 1): new", "", "| new |", ""]})
    text = path.read_text()
    assert "| 128 | 0.2 |" in text and "| 256 | 0.6 |" in text
    assert (
        "| new |" in text and "old scaling row" not in text and "Fitted exponents: old" not in text
    )
    assert text.index("Fig. 1(a)") < text.index("Fig. 1(b)") < text.index("Weak recovery")
    assert text.startswith("# Figure 1 through silab") and text.endswith("| new |\n")


def test_only_merges_run_json(tmp_path):
    script = load_script()
    path = tmp_path / "run.json"
    path.write_text(
        json.dumps(
            {
                "size": "cpu",
                "sweep_ids": {"fig1a": 1, "fig1b": 2, "scaling": 3},
                "sweep_files": {"fig1a": "a", "fig1b": "b", "scaling": "s"},
                "status": {"fig1a": "finished", "fig1b": "completed", "scaling": "completed"},
                "progress": {},
                "wall_s_until_done": 430.0,
                "experiment_wall_s": {"fig1a": 1.0},
                "service_cpu_s": 214.0,
                "example_experiments": {"fig1a": 24, "scaling": 40},
            }
        )
    )
    this_run = {
        "sweeps": ["scaling"],
        "sweep_ids": {"scaling": 1},
        "wall_s_until_done": 90.0,
        "service_cpu_s": 50.0,
    }
    fresh = {
        "sweep_ids": {"scaling": 1},
        "sweep_files": {"scaling": "s2"},
        "status": {"scaling": "completed"},
        "progress": {"scaling": {"completed": 18}},
        "experiment_wall_s": {"scaling": 21.0},
        "example_experiments": {"scaling": 1},
    }
    record = script.merge_record(path, "cpu", ["scaling"], this_run, fresh)
    assert record["sweep_ids"] == {"fig1a": 1, "fig1b": 2, "scaling": 1}
    assert record["status"]["fig1a"] == "finished" and record["sweep_files"]["scaling"] == "s2"
    assert record["example_experiments"] == {"fig1a": 24, "scaling": 1}
    assert [run["sweeps"] for run in record["service_runs"]] == [["fig1a", "fig1b"], ["scaling"]]
    assert record["service_runs"][0]["wall_s_until_done"] == 430.0
    # A second --only run of the same sweep replaces the previous one's entry.
    path.write_text(json.dumps(record))
    again = script.merge_record(
        path, "cpu", ["scaling"], {**this_run, "service_cpu_s": 60.0}, fresh
    )
    assert [run["sweeps"] for run in again["service_runs"]] == [["fig1a", "fig1b"], ["scaling"]]
    assert again["service_runs"][1]["service_cpu_s"] == 60.0
    # A full run starts afresh.
    full = script.merge_record(path, "cpu", ["fig1a", "fig1b", "scaling"], this_run, fresh)
    assert full["sweep_ids"] == {"scaling": 1} and len(full["service_runs"]) == 1
