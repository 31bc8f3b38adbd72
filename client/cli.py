"""The `silab` command: submit, validate, list, show, wait, trace, cancel, retry, priority,
sweep, login.

    silab submit preset:tiny --name smoke --tag demo --set d=16 --wait
    silab list --status running --sort -test_mse
    silab trace 12 --csv > trace.csv
    silab sweep submit sweeps/fig1a.yaml --wait; silab sweep show 3; silab sweep cancel 3

The API is --url, else $SILAB_URL, else the config file's url, else http://127.0.0.1:8000. The
key is $SILAB_API_KEY, else ~/.config/silab/config.toml (`silab login` writes it), else the key
the local server wrote on its first start ($SILAB_DATA_DIR/admin.key, default ./.silab).

Every command takes --json (the API's JSON on stdout). Exit codes: 0 done (a run that diverged
is a result: 0, with a note on stderr); 1 the server refused or could not be reached, or a run
failed or was cancelled; 2 bad input on this side; 3 --timeout passed while it still ran.
"""

from __future__ import annotations

import argparse
import difflib
import getpass
import os
import re
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any, NoReturn

import httpx
from pydantic import ValidationError

from client import commands, sweep_commands, view_commands
from client.cli_common import EXIT_INPUT, EXIT_OK, EXIT_SERVER, ONE_SHOT_RETRY_S, InputError, emit
from client.errors import SilabError
from client.python import BATCH_ITEMS, SilabClient

PRIORITY_HELP = "low, normal, high or an integer (higher runs first)"
OPTIONS: set[str] = set()  # every option string of every (sub)command, for suggestions


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse that says "did you mean" and raises instead of printing usage and exiting."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        OPTIONS.update(action.option_strings)
        return action

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}{suggestion(message)}")


def suggestion(message: str) -> str:
    choice = re.search(r"invalid choice: '?([^' ]+)'? \(choose from (.*)\)", message)
    if choice:
        known = re.findall(r"'?([\w-]+)'?", choice.group(2))
        close = difflib.get_close_matches(choice.group(1), known, n=1)
        return f"; did you mean {close[0]!r}?" if close else ""
    unknown = re.search(r"unrecognized arguments: (.*)", message)
    if unknown:
        for token in unknown.group(1).split():
            close = difflib.get_close_matches(token.split("=")[0], sorted(OPTIONS), n=1)
            if token.startswith("-") and close:
                return f"; did you mean {close[0]!r}?"
    return ""


def version() -> str:
    try:
        return metadata.version("silab")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


# ---------------------------------------------------------------------------------- login
def login(args: argparse.Namespace) -> int:
    """Store a key (and the URL, when one was given) in the user config file, after checking
    that the API accepts it. The key: --key, else the local server's admin.key, else asked."""
    from client.config import ClientSettings

    settings = ClientSettings()
    key = args.key
    where = "--key"
    if not key:
        local = settings.data_dir / "admin.key"
        if local.is_file():
            key, where = local.read_text().strip(), str(local)
        elif sys.stdin.isatty():
            key, where = (
                getpass.getpass("API key (from your admin, `silab-admin create-key`): "),
                "the prompt",
            )
        else:
            key, where = sys.stdin.readline(), "stdin"
    key = (key or "").strip()
    if not key:
        raise InputError("no key given (--key KEY, a local server's admin.key, or on stdin)")
    url = args.url or settings.url
    with SilabClient(url, api_key=key, retry_s=ONE_SHOT_RETRY_S) as silab:
        me = silab.me()
        path = settings.write_file(url=url or None, api_key=key)
        base = silab.base_url
    emit(
        args,
        {"user": me["name"], "role": me["role"], "url": base, "config_file": str(path)},
        lambda: [
            (
                f"logged in to {base} as {me['name']} ({me['role']}) with the key from {where}; "
                f"stored in {path} (mode 0600)"
            )
        ],
    )
    return EXIT_OK


# --------------------------------------------------------------------------------- parser
def parser() -> Parser:
    root = Parser(prog="silab", description=__doc__.split("\n\n")[0])
    root.add_argument("--version", action="version", version=f"silab {version()}")
    root.add_argument("--url", help="the API (default: $SILAB_URL, the config file, localhost)")
    tree = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(parent: Any, name: str, run: Any, text: str, path: str | None = None) -> Parser:
        sub: Parser = parent.add_parser(name, help=text, description=text)
        sub.add_argument("--json", action="store_true", help="print the API's JSON on stdout")
        sub.add_argument("--url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sub.set_defaults(run=run, command_path=path or name)
        return sub

    def spec_arguments(sub: Parser) -> None:
        sub.add_argument("spec", metavar="SPEC", help="a JSON/YAML spec file or preset:NAME")
        sub.add_argument(
            "--set",
            action="append",
            metavar="KEY.PATH=VALUE",
            help="override a field, e.g. --set phase1.stages.0.lr=0.1 (repeatable)",
        )

    def wait_arguments(sub: Parser) -> None:
        sub.add_argument("--timeout", type=float, help="give up after this many seconds (exit 3)")
        sub.add_argument("--interval", type=float, default=2.0, help="poll interval (s)")

    submit = command(tree, "submit", commands.submit, "submit an experiment")
    spec_arguments(submit)
    submit.add_argument("--name", help="a name shown in lists")
    submit.add_argument("--tag", action="append", help="a tag (repeatable)")
    submit.add_argument("--priority", type=int, default=0, help="higher runs first")
    submit.add_argument("--max-attempts", type=int, default=3)
    submit.add_argument("--wait", action="store_true", help="wait until it finishes")
    wait_arguments(submit)

    batch = command(tree, "batch", commands.batch, "submit many experiments in one request each")
    batch.add_argument(
        "file", help="a YAML/JSON list (or .jsonl) of specs, or of items with a `spec` key"
    )
    batch.add_argument("--tag", action="append", help="a tag for every item (repeatable)")
    batch.add_argument("--priority", type=int, default=0, help="for items that give none")
    batch.add_argument("--max-attempts", type=int, default=3, help="for items that give none")
    batch.add_argument(
        "--chunk",
        type=int,
        default=BATCH_ITEMS,
        help="items per request, each stored whole or not at all (default: %(default)s)",
    )

    spec_arguments(command(tree, "validate", commands.validate, "validate a spec, show its facts"))

    listing = command(tree, "list", view_commands.listing, "list experiments")
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

    command(tree, "show", view_commands.show_one, "show one experiment").add_argument(
        "id", type=int
    )
    wait = command(tree, "wait", commands.wait, "wait until an experiment finishes")
    wait.add_argument("id", type=int)
    wait_arguments(wait)

    trace = command(tree, "trace", view_commands.trace, "an experiment's trace (JSON, or --csv)")
    trace.add_argument("id", type=int)
    trace.add_argument("--csv", action="store_true", help="CSV with a header row")
    trace.add_argument("--metrics", help="comma-separated, e.g. mean_abs_m,test_mse")
    trace.add_argument("--seeds", help="comma-separated seeds")
    trace.add_argument("--phase", choices=["phase1", "phase2"])
    trace.add_argument("--step-min", type=int)
    trace.add_argument("--step-max", type=int)
    trace.add_argument(
        "--max-points", type=int, help="downsample to about this many (default: every point)"
    )

    sweep = tree.add_parser("sweep", help="sweeps: submit, show, list, wait, cancel")
    sweeps = sweep.add_subparsers(dest="sweep_command", required=True, metavar="COMMAND")
    s_submit = command(sweeps, "submit", sweep_commands.submit, "submit a sweep", "sweep submit")
    s_submit.add_argument("file", metavar="FILE", help="a sweep YAML/JSON file (sweeps/)")
    s_submit.add_argument("--name", help="override the file's name")
    s_submit.add_argument("--wait", action="store_true", help="follow it to the end")
    wait_arguments(s_submit)
    s_show = command(sweeps, "show", sweep_commands.show_one, "per-cell results", "sweep show")
    s_show.add_argument("id", type=int)
    s_show.add_argument("--csv", action="store_true", help="the aggregate table as CSV")
    s_list = command(sweeps, "list", sweep_commands.listing, "list sweeps", "sweep list")
    s_list.add_argument("--limit", type=int, default=20)
    s_wait = command(sweeps, "wait", sweep_commands.wait, "wait for a sweep", "sweep wait")
    s_wait.add_argument("id", type=int)
    wait_arguments(s_wait)
    command(sweeps, "cancel", sweep_commands.cancel, "cancel a sweep", "sweep cancel").add_argument(
        "id", type=int
    )
    s_priority = command(
        sweeps, "priority", sweep_commands.priority, "reorder its queued ones", "sweep priority"
    )
    s_priority.add_argument("id", type=int)
    s_priority.add_argument("priority", metavar="PRIORITY", help=PRIORITY_HELP)

    for name, run, text in (
        ("cancel", commands.cancel, "cancel an experiment"),
        ("retry", commands.retry, "retry a failed/cancelled/diverged one"),
        ("delete", commands.delete, "delete a queued or finished one"),
        ("position", view_commands.position, "a queued one's place in line"),
    ):
        command(tree, name, run, text).add_argument("id", type=int)
    e_priority = command(tree, "priority", commands.priority, "a queued one's new priority")
    e_priority.add_argument("id", type=int)
    e_priority.add_argument("priority", metavar="PRIORITY", help=PRIORITY_HELP)
    command(
        tree, "whoami", view_commands.whoami, "your account, limits and where the key came from"
    )
    log_in = command(tree, "login", login, "store your API key in ~/.config/silab/config.toml")
    log_in.add_argument("--key", help="the key (default: the local server's, else asked)")
    return root


def _normalize(argv: list[str]) -> list[str]:
    """`--sort -test_mse` as `--sort=-test_mse`: argparse would take -test_mse for an option."""
    out: list[str] = []
    for token in argv:
        if out and out[-1] == "--sort" and token.startswith("-") and token != "--":
            out[-1] = f"--sort={token}"
        else:
            out.append(token)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Never a traceback: every failure is one line on stderr and an exit code."""
    try:
        args = parser().parse_args(_normalize(list(sys.argv[1:] if argv is None else argv)))
    except UsageError as error:
        print(f"{error} (see: silab --help)", file=sys.stderr)
        return EXIT_INPUT
    except SystemExit as done:  # --help, --version
        return int(done.code or 0)
    try:
        return int(args.run(args))
    except InputError as error:
        print(f"silab: {error}", file=sys.stderr)
        return EXIT_INPUT
    except SilabError as error:
        print(f"silab: {error}", file=sys.stderr)
        return EXIT_SERVER
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
        print(f"silab: bad URL: {error}", file=sys.stderr)
        return EXIT_INPUT
    except ValidationError as error:  # SILAB_* settings
        problems = "; ".join(
            f"SILAB_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()
        )
        print(f"silab: bad setting: {problems}", file=sys.stderr)
        return EXIT_INPUT
    except ValueError as error:  # the config file
        print(f"silab: {error}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("silab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `silab trace 1 --csv | head`: quiet, like other Unix tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as error:  # noqa: BLE001  (a bug of ours: still one line, no traceback)
        print(
            f"silab: internal error ({type(error).__name__}: {error}); please report it",
            file=sys.stderr,
        )
        return EXIT_SERVER


if __name__ == "__main__":
    sys.exit(main())
