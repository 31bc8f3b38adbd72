"""Is a slower figure a regression or the load? Runs one bench/ script at two commits, taking
turns (old, new, old, new, ...), under the same load, and reports the chosen JSON fields of each
run with their medians and the new/old ratio.

The old commit is checked out with `git worktree add --detach` into a temporary folder (removed
at the end) and run with this checkout's interpreter, so only the code differs.

    python bench/compare_commits.py --old bdcfed5 --script trainer_small_batch.py \\
        --field fast.neuron_samples_per_s --field end_to_end.neuron_samples_per_s [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import ROOT, emit


def field(document: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        document = document[part]
    return document


def run(tree: Path, script: str, extra: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *extra],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
        timeout=1200,
    )
    return json.loads(done.stdout)


def commit_of(ref: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the commit whose figure was better")
    parser.add_argument("--script", required=True, help="a script in bench/")
    parser.add_argument("--field", action="append", required=True, help="dotted JSON path")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("args", nargs="*", help="passed to the script (after --)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    figures: dict[str, dict[str, list[Any]]] = {"old": {}, "new": {}}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="silab-old-") as folder:
        old_tree = Path(folder) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old_tree), args.old],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        try:
            for _ in range(args.repeats):
                for name, tree in (("old", old_tree), ("new", ROOT)):
                    loads.append(os.getloadavg()[0])
                    document = run(tree, args.script, args.args)
                    for path in args.field:
                        figures[name].setdefault(path, []).append(field(document, path))
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(old_tree)],
                cwd=ROOT,
                capture_output=True,
                check=False,
            )
    summary = {
        path: {
            "old_median": statistics.median(figures["old"][path]),
            "new_median": statistics.median(figures["new"][path]),
            "new_over_old": round(
                statistics.median(figures["new"][path]) / statistics.median(figures["old"][path]),
                3,
            ),
        }
        for path in args.field
    }
    emit(
        {
            "benchmark": "compare_commits",
            "script": args.script,
            "script_args": args.args,
            "old": commit_of(args.old),
            "new": commit_of("HEAD") + " (working tree)",
            "repeats": args.repeats,
            "order": "old, new taking turns",
            "runs": figures,
            "summary": summary,
            "load_average_1min_at_each_run": [round(v, 2) for v in loads],
            "load_average_1_5_15_min_before": [round(v, 2) for v in load_before],
            "load_average_1_5_15_min_after": [round(v, 2) for v in os.getloadavg()],
            "cpu_count": os.cpu_count(),
        }
    )


if __name__ == "__main__":
    main()
