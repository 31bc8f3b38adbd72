"""What every `silab` command shares: the exit codes, the input error, the client built from the
arguments, the output (--json, or lines for people), following a run, and reading input."""

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from client.config import ClientSettings
from client.progress import Follower
from client.python import SilabClient
from client.status import WITH_RESULTS

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


def finished_code(status: str) -> int:
    """0 when the run ended with results (completed, or diverged: divergence is an outcome of the
    experiment, reported, not an error of the service); 1 when it failed or was cancelled."""
    return EXIT_OK if status in WITH_RESULTS else EXIT_SERVER


def priority_value(text: str) -> int | str:
    """`high` or `12` from the command line, as the API takes it."""
    try:
        return int(text)
    except ValueError:
        return text
