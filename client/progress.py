"""Following a run on stderr: a tqdm bar on a terminal, plain lines otherwise (logs, pipes, CI).

The server learns `samples_done` at evaluation points only, so between two of them the bar would
sit still. It moves on at the rate measured between the last two answers that differed, never
past the total and never backwards, and marks such a position with `~`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from client.status import Status

PLAIN_EVERY_S = 10.0  # a plain line at most this often, unless the status changed


class Follower:
    """Call with each answer of the poll loop (on_progress)."""

    def __init__(
        self,
        *,
        desc: str,
        unit: str,
        total: Callable[[dict[str, Any]], int | None],
        done: Callable[[dict[str, Any]], int],
        status: Callable[[dict[str, Any]], str],
        finished: Callable[[dict[str, Any]], bool],
        extrapolate: bool,
        out: TextIO | None = None,
        tty: bool | None = None,
    ) -> None:
        self.desc, self.unit = desc, unit
        self.total, self.done, self.status = total, done, status
        self.finished = finished
        self.extrapolate = extrapolate
        self.out = out or sys.stderr
        self.tty = self.out.isatty() if tty is None else tty
        self.bar: Any = None
        self.last: tuple[float, int] | None = None  # (time, done) of the last new position
        self.rate = 0.0  # units per second between the last two positions
        self.shown = 0
        self.printed: tuple[float, str] | None = None

    def estimate(self, current: dict[str, Any], now: float) -> tuple[int, bool]:
        real = self.done(current)
        if self.last is None or real != self.last[1]:
            if self.last is not None and now > self.last[0] and real > self.last[1]:
                self.rate = (real - self.last[1]) / (now - self.last[0])
            self.last = (now, real)
            return real, False
        total = self.total(current)
        if (
            not self.extrapolate
            or self.rate <= 0
            or self.status(current) != Status.running
            or not total
        ):
            return real, False
        guess = int(real + self.rate * (now - self.last[0]))
        return min(guess, total - 1), guess > real

    def __call__(self, current: dict[str, Any]) -> None:
        now = time.monotonic()
        position, guessed = self.estimate(current, now)
        position = max(position, self.shown)
        self.shown = position
        total = self.total(current)
        status = self.status(current)
        if self.tty:
            self._bar(total, position, status, guessed)
        elif not self.finished(current):  # the final state is the command's own output
            self._plain(total, position, status, now)

    def _bar(self, total: int | None, position: int, status: str, guessed: bool) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=total or None,
                unit=self.unit,
                unit_scale=self.unit == "sample",
                desc=self.desc,
                file=self.out,
            )
        self.bar.set_postfix_str(status + (" ~" if guessed else ""), refresh=False)
        self.bar.update(max(0, position - self.bar.n))

    def _plain(self, total: int | None, position: int, status: str, now: float) -> None:
        share = f" {100 * position / total:.0f}%" if total else ""
        of = f"{total:,}" if total else "?"
        text = f"{self.desc}: {status}{share} ({position:,} of {of} {self.unit}s)"
        if self.printed is not None:
            when, before = self.printed
            same_status = before.split(":")[1].split()[0] == status
            if before == text or (same_status and now - when < PLAIN_EVERY_S):
                return
        print(text, file=self.out, flush=True)
        self.printed = (now, text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
