"""`silab sweep ...`: submit, show, list, wait, cancel."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from client import show
from client.cli_common import (
    EXIT_OK,
    EXIT_SERVER,
    EXIT_TIMEOUT,
    client,
    emit,
    follow,
    note,
    priority_value,
    read_input,
)
from client.inputs import load_sweep
from client.progress import Follower
from client.python import SilabClient
from client.status import ACTIVE, WITHOUT_RESULTS, Status


def line(sweep: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in sweep["progress"].items() if n)
    return (
        f"sweep {sweep['id']} {sweep['name']!r}: {sweep['status']}, {sweep['cells']} cells, "
        f"{sweep['experiments_total']} experiments ({counts or 'none'})"
    )


def finished_code(sweep: dict[str, Any]) -> int:
    """0 when every experiment ended with results (completed or diverged: a diverged run is a
    data point of the sweep, e.g. too large a step); 1 when any failed or was cancelled."""
    bad = sum(sweep["progress"].get(s, 0) for s in WITHOUT_RESULTS)
    return EXIT_SERVER if bad else EXIT_OK


def _wait(args: argparse.Namespace, silab: SilabClient, sweep_id: int) -> int:
    follower = Follower(
        desc=f"sweep {sweep_id}",
        unit="experiment",
        total=lambda sw: sw["experiments_total"],
        done=lambda sw: sum(n for s, n in sw["progress"].items() if s not in ACTIVE),
        status=lambda sw: f"{sw['status']}, {sw['progress'].get(Status.running, 0)} running",
        finished=lambda sw: sw["status"] not in ACTIVE,
        extrapolate=False,
    )
    sweep = follow(args, silab.wait_sweep, sweep_id, follower)
    if sweep is None:
        return EXIT_TIMEOUT
    emit(args, sweep, lambda: [line(sweep)])
    diverged = sweep["progress"].get(Status.diverged, 0)
    if diverged:
        note(
            f"sweep {sweep_id}: {diverged} of {sweep['experiments_total']} experiments diverged; "
            "their seeds count as not recovered (`silab sweep show` has the cells)"
        )
    code = finished_code(sweep)
    if code:
        bad = ", ".join(
            f"{sweep['progress'][s]} {s}" for s in WITHOUT_RESULTS if sweep["progress"].get(s)
        )
        note(f"sweep {sweep_id}: {bad} (`silab list --status failed` shows why)")
    return code


def submit(args: argparse.Namespace) -> int:
    body = read_input(load_sweep, args.file)
    if args.name:
        body["name"] = args.name
    with client(args) as silab:
        sweep = silab.submit_sweep(body)
        again = "" if sweep["created"] else " (already submitted: nothing new queued)"
        if args.wait:
            if not args.json:
                print(line(sweep) + again, flush=True)
            return _wait(args, silab, sweep["id"])
    emit(args, sweep, lambda: [line(sweep) + again])
    return EXIT_OK


FIELDS = ("final_mean_abs_m", "test_mse", "weak_recovery_samples", "recovered")
HEADERS = {
    "final_mean_abs_m": "mean |m|",
    "test_mse": "test MSE",
    "weak_recovery_samples": "samples to recovery",
    "recovered": "recovered (95% Wilson)",
}


def _stat(field: str, stat: dict[str, Any]) -> str:
    if field == "recovered":
        return show.recovered_text(stat.get("mean"), stat.get("n") or 0)
    text = show.number(stat.get("mean"))
    if field == "weak_recovery_samples" and stat.get("n_missing"):
        text += f" ({stat['n_missing']} not recovered)"
    return text


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Columns as wide as their widest entry, headers never cut."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    out = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    out += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return out


def show_one(args: argparse.Namespace) -> int:
    with client(args) as silab:
        sweep = silab.get_sweep(args.id)
        if args.csv:
            sys.stdout.write(silab.sweep_aggregate(args.id, format="csv"))
            return EXIT_OK
        aggregate = silab.sweep_aggregate(args.id, fields=",".join(FIELDS))
    if args.json:
        print(json.dumps({**sweep, "aggregate": aggregate}, indent=2))
        return EXIT_OK
    header = [*sweep["axes"], "seeds", *(HEADERS[f] for f in FIELDS)]
    rows = [
        [show.number(c[a]) for a in sweep["axes"]]
        + [str(c["seeds"])]
        + [_stat(f, c[f]) for f in FIELDS]
        for c in aggregate["cells"]
    ]
    print(line(sweep))
    for text in table(header, rows):
        print(text)
    return EXIT_OK


def listing(args: argparse.Namespace) -> int:
    with client(args) as silab:
        sweeps = silab.list_sweeps(limit=args.limit)["items"]
    if args.json:
        for sweep in sweeps:
            print(json.dumps(sweep))
        return EXIT_OK
    for sweep in sweeps:
        print(line(sweep))
    return EXIT_OK


def wait(args: argparse.Namespace) -> int:
    with client(args) as silab:
        return _wait(args, silab, args.id)


def priority(args: argparse.Namespace) -> int:
    with client(args) as silab:
        changed = silab.set_sweep_priority(args.id, priority_value(args.priority))
    text = (
        f"sweep {args.id}: {changed['changed']} queued experiment(s) now at {changed['priority']}"
    )
    emit(args, changed, lambda: [text])
    return EXIT_OK


def cancel(args: argparse.Namespace) -> int:
    with client(args) as silab:
        sweep = silab.cancel_sweep(args.id)
    emit(args, sweep, lambda: [line(sweep)])
    return EXIT_OK
