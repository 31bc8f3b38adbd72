"""The `silab` commands that only read: list, show, trace, position and whoami (same output
rules as client.commands: --json prints the API's JSON, else lines for people)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from client import show
from client.cli_common import (
    EXIT_OK,
    InputError,
    client,
    emit,
)

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
