"""The `silab` commands: each takes the parsed arguments and returns the exit code.

With `--json` a command prints the API's JSON on stdout (list: one object per line) and nothing
else; without it, lines for people. Messages go to stderr.
"""

from __future__ import annotations

import argparse

from client import show
from client.cli_common import (
    EXIT_OK,
    EXIT_TIMEOUT,
    client,
    emit,
    finished_code,
    follow,
    note,
    priority_value,
    read_input,
)
from client.inputs import load_batch, load_spec
from client.progress import Follower
from client.python import SilabClient
from client.status import TERMINAL, Status


# ---------------------------------------------------------------------------- experiments
def submit(args: argparse.Namespace) -> int:
    spec = read_input(load_spec, args.spec, args.set or [])
    with client(args) as silab:
        experiment = silab.submit(
            spec,
            name=args.name or "",
            tags=args.tag or [],
            priority=args.priority,
            max_attempts=args.max_attempts,
        )
        if args.wait:
            if not args.json:
                print(show.line(experiment), flush=True)
            return _wait(args, silab, experiment["id"])
    emit(args, experiment, lambda: [show.line(experiment)])
    return EXIT_OK


def batch(args: argparse.Namespace) -> int:
    items = read_input(load_batch, args.file)
    with client(args) as silab:
        ids = silab.submit_batch(
            items,
            tags=args.tag or [],
            priority=args.priority,
            max_attempts=args.max_attempts,
            chunk=args.chunk,
        )
    emit(
        args,
        {"ids": ids, "count": len(ids)},
        lambda: [f"submitted {len(ids)} experiments: ids {ids[0]} to {ids[-1]}"],
    )
    return EXIT_OK


def validate(args: argparse.Namespace) -> int:
    spec = read_input(load_spec, args.spec, args.set or [])
    with client(args) as silab:
        result = silab.validate(spec)

    def lines() -> list[str]:
        facts = result["facts"]
        out = [f"valid spec {result['spec_hash'][:12]}"]
        for key in (
            "information_exponent",
            "reuse_exponent",
            "label_power_exponents",
            "width",
            "seeds",
            "phase1_samples",
            "phase1_steps",
            "memory_estimate_bytes",
        ):
            if key in facts:
                out.append(f"  {key}: {facts[key]}")
        return out

    emit(args, result, lines)
    return EXIT_OK


def _wait(args: argparse.Namespace, silab: SilabClient, experiment_id: int) -> int:
    follower = Follower(
        desc=f"experiment {experiment_id}",
        unit="sample",
        total=lambda e: e.get("samples_total") or None,
        done=lambda e: e.get("samples_done") or 0,
        status=lambda e: e["status"],
        finished=lambda e: e["status"] in TERMINAL,
        extrapolate=True,
    )
    experiment = follow(args, silab.wait, experiment_id, follower)
    if experiment is None:
        return EXIT_TIMEOUT
    emit(args, experiment, lambda: [show.line(experiment)])
    message = show.outcome(experiment)
    if message:
        note(f"experiment {experiment_id}: {message}")
    return finished_code(experiment["status"])


def wait(args: argparse.Namespace) -> int:
    with client(args) as silab:
        return _wait(args, silab, args.id)


def cancel(args: argparse.Namespace) -> int:
    with client(args) as silab:
        experiment = silab.cancel(args.id)
    if experiment["status"] == Status.running:
        text = f"experiment {args.id}: cancel requested (it stops at the next heartbeat)"
    else:
        text = show.line(experiment)
    emit(args, experiment, lambda: [text])
    return EXIT_OK


def retry(args: argparse.Namespace) -> int:
    with client(args) as silab:
        experiment = silab.retry(args.id)
    emit(args, experiment, lambda: [show.line(experiment)])
    return EXIT_OK


def priority(args: argparse.Namespace) -> int:
    with client(args) as silab:
        experiment = silab.set_priority(args.id, priority_value(args.priority))
    emit(args, experiment, lambda: [show.line(experiment)])
    return EXIT_OK


def delete(args: argparse.Namespace) -> int:
    with client(args) as silab:
        silab.delete(args.id)
    emit(args, {"id": args.id, "deleted": True}, lambda: [f"experiment {args.id}: deleted"])
    return EXIT_OK
