"""The `silab` commands: each takes the parsed arguments and returns the exit code.

With `--json` a command prints the API's JSON on stdout (list: one object per line) and nothing
else; without it, lines for people. Messages go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from client import show
from client.config import ClientSettings
from client.inputs import load_batch, load_spec
from client.progress import Follower
from client.python import SilabClient
from client.status import TERMINAL, WITH_RESULTS, Status

EXIT_OK = 0
EXIT_SERVER = 1  # refused, unreachable, or the run failed / was cancelled
EXIT_INPUT = 2  # bad input on this side
EXIT_TIMEOUT = 3  # --timeout passed while it was still queued or running
ONE_SHOT_RETRY_S = 3.0  # a command that does not wait gives a restarting API this long
T = TypeVar("T")
WAITING = frozenset({"wait", "sweep wait"})


class InputError(Exception):
    """A problem with what was given on this side (exit code 2)."""


def note(text: str) -> None:
    print(f"silab: {text}", file=sys.stderr, flush=True)


def client(args: argparse.Namespace) -> SilabClient:
    waits = getattr(args, "wait", False) or args.command_path in WAITING
    retry_s = ClientSettings().retry_s if waits else min(ONE_SHOT_RETRY_S, ClientSettings().retry_s)
    # Only a waiting command says that it retries: a one-shot one just fails after a moment.
    return SilabClient(args.url, retry_s=retry_s, on_retry=note if waits else None)


def emit(args: argparse.Namespace, data: Any, lines: Callable[[], list[str]]) -> None:
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for text in lines():
            print(text)


def follow(
    args: argparse.Namespace, wait: Callable[..., dict[str, Any]], ident: int, follower: Follower
) -> dict[str, Any] | None:
    """`wait(ident)` polled at --interval until --timeout, its progress shown by `follower`;
    None, after saying why, when the timeout passed first."""
    try:
        answer = wait(ident, timeout=args.timeout, interval=args.interval, on_progress=follower)
    except TimeoutError as error:
        follower.close()
        note(str(error))
        return None
    follower.close()
    return answer


def read_input(load: Callable[..., T], *args: Any) -> T:
    """`load(*args)` for a file or option the user gave: its ValueError (unreadable, not YAML,
    a bad --set) is an InputError, exit code 2."""
    try:
        return load(*args)
    except ValueError as error:
        raise InputError(str(error)) from None


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


COLUMNS = (
    ("id", 6),
    ("status", 9),
    ("name", 28),
    ("target", 10),
    ("algorithm", 9),
    ("d", 6),
    ("width", 6),
    ("seeds", 5),
    ("test_mse", 9),
    ("final_median_abs_m", 8),
)


def _cell(value: Any, width: int) -> str:
    text = show.number(value)
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.ljust(width)


def listing(args: argparse.Namespace) -> int:
    filters = {
        "status": args.status,
        "owner": args.owner,
        "tag": args.tag,
        "target": args.target,
        "algorithm": args.algorithm,
        "d_min": args.d_min,
        "d_max": args.d_max,
        "name": args.name,
        "sort": args.sort,
    }
    with client(args) as silab:
        rows = silab.experiments(limit=args.limit, **filters)
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return EXIT_OK
    names = [name if name != "final_median_abs_m" else "median_m" for name, _ in COLUMNS]
    print(" ".join(_cell(n, w) for n, (_, w) in zip(names, COLUMNS, strict=True)).rstrip())
    for row in rows:
        print(" ".join(_cell(row.get(name), width) for name, width in COLUMNS).rstrip())
    return EXIT_OK


def show_one(args: argparse.Namespace) -> int:
    with client(args) as silab:
        experiment = silab.get(args.id)
    emit(args, experiment, lambda: show.experiment_text(experiment))
    return EXIT_OK


def finished_code(status: str) -> int:
    """0 when the run ended with results (completed, or diverged: divergence is an outcome of the
    experiment, reported, not an error of the service); 1 when it failed or was cancelled."""
    return EXIT_OK if status in WITH_RESULTS else EXIT_SERVER


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


def trace(args: argparse.Namespace) -> int:
    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    except ValueError:
        raise InputError(f"--seeds {args.seeds!r}: expected comma-separated integers") from None
    with client(args) as silab:
        data = silab.trace(
            args.id,
            metrics=metrics,
            seeds=seeds,
            phase=args.phase,
            step_min=args.step_min,
            step_max=args.step_max,
            max_points=args.max_points,
            format="csv" if args.csv else "json",
        )
    if args.csv:
        sys.stdout.write(data)
    else:
        print(json.dumps(data, indent=2))
    return EXIT_OK


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


def priority_value(text: str) -> int | str:
    """`high` or `12` from the command line, as the API takes it."""
    try:
        return int(text)
    except ValueError:
        return text


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


def position(args: argparse.Namespace) -> int:
    with client(args) as silab:
        place = silab.position(args.id)

    def lines() -> list[str]:
        waits = ", ".join(place["waiting_for"]) or "nothing"
        if place["position"] is None:
            suffix = f"; waits for {waits}" if place["waiting_for"] else ""
            return [f"experiment {args.id}: {place['status']}{suffix}"]
        return [
            (
                f"experiment {args.id}: number {place['position']} in line "
                f"({place['busy_slots']}/{place['slots']} worker slots busy); waits for {waits}"
            )
        ]

    emit(args, place, lines)
    return EXIT_OK


def whoami(args: argparse.Namespace) -> int:
    with client(args) as silab:
        me = silab.me()
        source = silab.key_sources[-1].where if silab.key_sources else "the given key"

    def limit(value: int | None) -> str:
        return "no limit" if value is None else f"max {value}"

    def lines() -> list[str]:
        expires = me.get("key_expires_at") or "never"
        return [
            (
                f"{me['name']} ({me['role']}): {me['running']} running "
                f"({limit(me['max_running'])}), {me['queued']} queued ({limit(me['max_queued'])})"
            ),
            f"  key {me.get('key_prefix', '?')}… from {source}, expires {expires}",
            f"  {me.get('trace_points', '?')} trace points held "
            f"({limit(me.get('max_trace_points'))})",
        ]

    emit(args, me, lines)
    return EXIT_OK
