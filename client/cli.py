"""The `silab` command: submit, validate, list, show, wait, trace, cancel, retry, sweep.

    silab submit preset:tiny --name smoke --tag demo --set d=16 --wait
    silab list --status running --sort -test_mse
    silab trace 12 --csv > trace.csv
    silab sweep submit sweeps/fig1a.yaml --wait; silab sweep show 3; silab sweep cancel 3

The API is $SILAB_URL (default http://127.0.0.1:8000); the key is $SILAB_API_KEY, else the
admin key the embedded server wrote on its first start ($SILAB_DATA_DIR/admin.key, default
./.silab/admin.key). Accounts and keys are made on the server with `silab-admin`.

Errors print one clear message on stderr: exit code 1 for what the server refused or could not be
reached, 2 for bad input on this side (usage, a spec file that cannot be read).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pydantic import ValidationError

from client.python import SilabClient, SilabError, load_spec, load_sweep

EXIT_SERVER = 1
EXIT_INPUT = 2


class InputError(Exception):
    """A problem with what was given on this side (exit code 2)."""


def _client(args: argparse.Namespace) -> SilabClient:
    return SilabClient(args.url)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def _line(experiment: dict[str, Any]) -> str:
    dispatched = (
        ""
        if experiment["status"] != "queued"
        else (
            " (sent to the broker)"
            if experiment.get("dispatched_at")
            else " (broker unreachable: the dispatcher will send it)"
        )
    )
    return f"experiment {experiment['id']}: {experiment['status']}{dispatched}"


# ---------------------------------------------------------------------------------- commands
def cmd_submit(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(args.spec, args.set or [])
    except ValueError as error:
        raise InputError(str(error)) from None
    with _client(args) as silab:
        experiment = silab.submit(
            spec,
            name=args.name or "",
            tags=args.tag or [],
            priority=args.priority,
            max_attempts=args.max_attempts,
        )
        print(_line(experiment))
        if args.wait:
            return _wait(silab, experiment["id"], args.timeout, args.interval)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(args.spec, args.set or [])
    except ValueError as error:
        raise InputError(str(error)) from None
    with _client(args) as silab:
        result = silab.validate(spec)
    if args.json:
        _print_json(result)
        return 0
    facts = result["facts"]
    print(f"valid spec {result['spec_hash'][:12]}")
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
            print(f"  {key}: {facts[key]}")
    return 0


COLUMNS = (
    ("id", 6),
    ("status", 9),
    ("name", 24),
    ("target", 10),
    ("algorithm", 9),
    ("d", 6),
    ("width", 6),
    ("seeds", 5),
    ("test_mse", 9),
    ("final_median_abs_m", 8),
)


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    return text[:width].ljust(width)


def cmd_list(args: argparse.Namespace) -> int:
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
    with _client(args) as silab:
        rows = []
        for experiment in silab.list(page_size=min(args.limit, 500), **filters):
            rows.append(experiment)
            if len(rows) >= args.limit:
                break
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(
        " ".join(
            _cell(name if name != "final_median_abs_m" else "median_m", width)
            for name, width in COLUMNS
        ).rstrip()
    )
    for row in rows:
        print(" ".join(_cell(row.get(name), width) for name, width in COLUMNS).rstrip())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _client(args) as silab:
        _print_json(silab.get(args.id))
    return 0


def _follow(
    wait: Callable[..., dict[str, Any]],
    timeout: float | None,
    interval: float,
    *,
    bar: Callable[[dict[str, Any]], dict[str, Any]],
    done: Callable[[dict[str, Any]], int],
    postfix: Callable[[dict[str, Any]], str],
) -> dict[str, Any] | None:
    """Run `wait` with a progress bar on stderr (none when stderr is not a terminal: logs, pipes,
    CI); `bar` gives tqdm's arguments from the first answer, `done` the position, `postfix` the
    text beside it. None, after saying so, on a timeout."""
    from tqdm import tqdm

    progress_bar = None

    def progress(current: dict[str, Any]) -> None:
        nonlocal progress_bar
        if progress_bar is None:
            progress_bar = tqdm(**bar(current), disable=None, file=sys.stderr)
        progress_bar.set_postfix_str(postfix(current), refresh=False)
        progress_bar.update(max(0, done(current) - progress_bar.n))

    try:
        return wait(timeout=timeout, interval=interval, on_progress=progress)
    except TimeoutError as error:
        print(f"silab: {error}", file=sys.stderr)
        return None
    finally:
        if progress_bar is not None:
            progress_bar.close()


def _wait(silab: SilabClient, experiment_id: int, timeout: float | None, interval: float) -> int:
    experiment = _follow(
        lambda **kw: silab.wait(experiment_id, **kw),
        timeout,
        interval,
        bar=lambda e: {
            "total": e.get("samples_total") or None,
            "unit": "sample",
            "unit_scale": True,
            "desc": f"experiment {experiment_id}",
        },
        done=lambda e: e.get("samples_done") or 0,
        postfix=lambda e: e["status"],
    )
    if experiment is None:
        return EXIT_SERVER
    print(_line(experiment))
    if experiment.get("error"):
        print(experiment["error"], file=sys.stderr)
    return 0 if experiment["status"] == "completed" else EXIT_SERVER


def cmd_wait(args: argparse.Namespace) -> int:
    with _client(args) as silab:
        return _wait(silab, args.id, args.timeout, args.interval)


def cmd_trace(args: argparse.Namespace) -> int:
    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    except ValueError:
        raise InputError(f"--seeds {args.seeds!r}: expected comma-separated integers") from None
    with _client(args) as silab:
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
        _print_json(data)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    with _client(args) as silab:
        experiment = silab.cancel(args.id)
    if experiment["status"] == "running":
        print(f"experiment {args.id}: cancel requested (it stops at the next heartbeat)")
    else:
        print(_line(experiment))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    with _client(args) as silab:
        print(_line(silab.retry(args.id)))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with _client(args) as silab:
        silab.delete(args.id)
    print(f"experiment {args.id}: deleted")
    return 0


def cmd_position(args: argparse.Namespace) -> int:
    with _client(args) as silab:
        place = silab.position(args.id)
    if place["position"] is None:
        waiting = "; waits for " + ", ".join(place["waiting_for"]) if place["waiting_for"] else ""
        print(f"experiment {args.id}: {place['status']}{waiting}")
    else:
        print(
            f"experiment {args.id}: number {place['position']} in line "
            f"({place['busy_slots']}/{place['slots']} worker slots busy); waits for "
            + (", ".join(place["waiting_for"]) or "nothing")
        )
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    with _client(args) as silab:
        me = silab.me()
    print(
        f"{me['name']} ({me['role']}): {me['running']} running (max {me['max_running']}), "
        f"{me['queued']} queued (max {me['max_queued']})"
    )
    return 0


# ------------------------------------------------------------------------------------ sweeps
def _sweep_line(sweep: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in sweep["progress"].items() if n)
    return (
        f"sweep {sweep['id']} {sweep['name']!r}: {sweep['status']}, {sweep['cells']} cells, "
        f"{sweep['experiments_total']} experiments ({counts or 'none'})"
    )


def _wait_sweep(silab: SilabClient, sweep_id: int, timeout: float | None, interval: float) -> int:
    sweep = _follow(
        lambda **kw: silab.wait_sweep(sweep_id, **kw),
        timeout,
        interval,
        bar=lambda sw: {
            "total": sw["experiments_total"],
            "unit": "exp",
            "desc": f"sweep {sweep_id}",
        },
        done=lambda sw: sum(n for s, n in sw["progress"].items() if s not in ("queued", "running")),
        postfix=lambda sw: f"{sw['progress'].get('running', 0)} running",
    )
    if sweep is None:
        return EXIT_SERVER
    print(_sweep_line(sweep))
    return 0 if sweep["status"] == "completed" else EXIT_SERVER


def cmd_sweep_submit(args: argparse.Namespace) -> int:
    try:
        body = load_sweep(args.file)
    except ValueError as error:
        raise InputError(str(error)) from None
    if args.name:
        body["name"] = args.name
    with _client(args) as silab:
        sweep = silab.submit_sweep(body)
        print(
            _sweep_line(sweep)
            + ("" if sweep["created"] else " (already submitted: nothing new queued)")
        )
        if args.wait:
            return _wait_sweep(silab, sweep["id"], args.timeout, args.interval)
    return 0


def cmd_sweep_show(args: argparse.Namespace) -> int:
    with _client(args) as silab:
        sweep = silab.get_sweep(args.id)
        if args.json:
            _print_json(sweep)
            return 0
        print(_sweep_line(sweep))
        if args.csv:
            sys.stdout.write(silab.sweep_aggregate(args.id, format="csv"))
            return 0
        fields = ("final_mean_abs_m", "test_mse", "weak_recovery_samples", "recovered")
        cells = silab.sweep_aggregate(args.id, fields=",".join(fields))["cells"]
    header = [*sweep["axes"], "seeds", *fields]
    print("  ".join(f"{h[:16]:>16}" for h in header))
    for cell in cells:
        values = [cell[a] for a in sweep["axes"]] + [cell["seeds"]]
        values += [cell[f]["mean"] for f in fields]
        print("  ".join(f"{_cell(v, 16).strip():>16}" for v in values))
    return 0


def cmd_sweep_list(args: argparse.Namespace) -> int:
    with _client(args) as silab:
        for sweep in silab.list_sweeps(limit=args.limit)["items"]:
            print(_sweep_line(sweep))
    return 0


def cmd_sweep_wait(args: argparse.Namespace) -> int:
    with _client(args) as silab:
        return _wait_sweep(silab, args.id, args.timeout, args.interval)


def cmd_sweep_cancel(args: argparse.Namespace) -> int:
    with _client(args) as silab:
        print(_sweep_line(silab.cancel_sweep(args.id)))
    return 0


# ------------------------------------------------------------------------------------ parser
def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="silab", description=__doc__.split("\n\n")[0])
    root.add_argument("--url", help="the API (default: $SILAB_URL or http://127.0.0.1:8000)")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def spec_arguments(command: argparse.ArgumentParser) -> None:
        command.add_argument("spec", metavar="SPEC", help="a JSON/YAML spec file or preset:NAME")
        command.add_argument(
            "--set",
            action="append",
            metavar="KEY.PATH=VALUE",
            help="override a field, e.g. --set phase1.stages.0.lr=0.1 (repeatable)",
        )

    def wait_arguments(command: argparse.ArgumentParser) -> None:
        command.add_argument("--timeout", type=float, help="give up after this many seconds")
        command.add_argument("--interval", type=float, default=2.0, help="poll interval (s)")

    submit = commands.add_parser("submit", help="submit an experiment")
    spec_arguments(submit)
    submit.add_argument("--name", help="a name shown in lists")
    submit.add_argument("--tag", action="append", help="a tag (repeatable)")
    submit.add_argument("--priority", type=int, default=0, help="higher runs first")
    submit.add_argument("--max-attempts", type=int, default=3)
    submit.add_argument("--wait", action="store_true", help="wait until it finishes")
    wait_arguments(submit)
    submit.set_defaults(run=cmd_submit)

    validate = commands.add_parser("validate", help="validate a spec and show its facts")
    spec_arguments(validate)
    validate.add_argument("--json", action="store_true", help="print the full answer as JSON")
    validate.set_defaults(run=cmd_validate)

    listing = commands.add_parser("list", help="list experiments")
    listing.add_argument("--status", action="append", help="repeatable: any of them")
    listing.add_argument("--owner")
    listing.add_argument("--tag", action="append", help="repeatable: all of them")
    listing.add_argument("--target", help="e.g. h3, h3+h4")
    listing.add_argument("--algorithm")
    listing.add_argument("--d-min", type=int)
    listing.add_argument("--d-max", type=int)
    listing.add_argument("--name", help="substring, case-insensitive")
    listing.add_argument("--sort", default="-id", help="e.g. -test_mse (default -id)")
    listing.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(run=cmd_list)

    show = commands.add_parser("show", help="show one experiment as JSON")
    show.add_argument("id", type=int)
    show.set_defaults(run=cmd_show)

    wait = commands.add_parser("wait", help="wait until an experiment finishes (progress bar)")
    wait.add_argument("id", type=int)
    wait_arguments(wait)
    wait.set_defaults(run=cmd_wait)

    trace = commands.add_parser("trace", help="print an experiment's trace (JSON or --csv)")
    trace.add_argument("id", type=int)
    trace.add_argument("--csv", action="store_true", help="CSV with a header row")
    trace.add_argument("--metrics", help="comma-separated, e.g. mean_abs_m,test_mse")
    trace.add_argument("--seeds", help="comma-separated seeds")
    trace.add_argument("--phase", choices=["phase1", "phase2"])
    trace.add_argument("--step-min", type=int)
    trace.add_argument("--step-max", type=int)
    trace.add_argument("--max-points", type=int, default=500)
    trace.set_defaults(run=cmd_trace)

    sweep = commands.add_parser("sweep", help="sweeps: submit, show, list, wait, cancel")
    sweep_commands = sweep.add_subparsers(dest="sweep_command", required=True, metavar="COMMAND")
    sweep_submit = sweep_commands.add_parser("submit", help="submit a sweep from a YAML file")
    sweep_submit.add_argument("file", metavar="FILE", help="a sweep YAML/JSON file (sweeps/)")
    sweep_submit.add_argument("--name", help="override the file's name")
    sweep_submit.add_argument("--wait", action="store_true", help="follow it to the end")
    wait_arguments(sweep_submit)
    sweep_submit.set_defaults(run=cmd_sweep_submit)
    sweep_show = sweep_commands.add_parser("show", help="progress and per-cell means")
    sweep_show.add_argument("id", type=int)
    sweep_show.add_argument("--json", action="store_true", help="the sweep as JSON")
    sweep_show.add_argument("--csv", action="store_true", help="the aggregate table as CSV")
    sweep_show.set_defaults(run=cmd_sweep_show)
    sweep_list = sweep_commands.add_parser("list", help="list sweeps, newest first")
    sweep_list.add_argument("--limit", type=int, default=20)
    sweep_list.set_defaults(run=cmd_sweep_list)
    sweep_wait = sweep_commands.add_parser("wait", help="wait until a sweep finishes")
    sweep_wait.add_argument("id", type=int)
    wait_arguments(sweep_wait)
    sweep_wait.set_defaults(run=cmd_sweep_wait)
    sweep_cancel = sweep_commands.add_parser("cancel", help="cancel every unfinished experiment")
    sweep_cancel.add_argument("id", type=int)
    sweep_cancel.set_defaults(run=cmd_sweep_cancel)

    for name, run, text in (
        ("cancel", cmd_cancel, "cancel an experiment"),
        ("retry", cmd_retry, "retry a failed/cancelled/diverged one"),
        ("delete", cmd_delete, "delete a queued or finished one"),
        ("position", cmd_position, "a queued one's place in line"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("id", type=int)
        command.set_defaults(run=run)
    commands.add_parser("whoami", help="your account and limits").set_defaults(run=cmd_whoami)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except InputError as error:
        print(f"silab: {error}", file=sys.stderr)
        return EXIT_INPUT
    except SilabError as error:
        print(f"silab: {error}", file=sys.stderr)
        return EXIT_SERVER
    except (httpx.InvalidURL, ValidationError) as error:  # SILAB_URL / SILAB_* settings
        print(f"silab: bad setting: {error}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("silab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `silab trace 1 --csv | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
