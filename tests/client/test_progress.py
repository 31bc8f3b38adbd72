"""Following a run: plain lines when not on a terminal, and a position that moves on between
evaluation points at the measured rate, never past the total or backwards."""

from __future__ import annotations

import io

from client.progress import Follower


def follower(out: io.StringIO, tty: bool = False) -> Follower:
    return Follower(
        desc="experiment 1",
        unit="sample",
        total=lambda e: e["samples_total"],
        done=lambda e: e["samples_done"],
        status=lambda e: e["status"],
        finished=lambda e: e["status"] == "completed",
        extrapolate=True,
        out=out,
        tty=tty,
    )


def run(status: str, done: int) -> dict:
    return {"status": status, "samples_done": done, "samples_total": 1000}


def test_plain_lines_say_status_and_share_and_skip_repeats() -> None:
    out = io.StringIO()
    follow = follower(out)
    follow(run("queued", 0))
    follow(run("queued", 0))
    follow(run("running", 0))
    follow(run("completed", 1000))  # the command prints the final state itself
    assert out.getvalue().splitlines() == [
        "experiment 1: queued 0% (0 of 1,000 samples)",
        "experiment 1: running 0% (0 of 1,000 samples)",
    ]


def test_between_evaluation_points_the_position_moves_at_the_measured_rate() -> None:
    follow = follower(io.StringIO())
    assert follow.estimate(run("running", 100), now=10.0) == (100, False)
    assert follow.estimate(run("running", 200), now=20.0) == (200, False)  # 10 samples/s
    assert follow.estimate(run("running", 200), now=25.0) == (250, True)
    assert follow.estimate(run("running", 200), now=500.0) == (999, True)  # never the total
    assert follow.estimate(run("running", 900), now=501.0) == (900, False)  # a real point


def test_the_shown_position_never_goes_back() -> None:
    out = io.StringIO()
    follow = follower(out)
    follow(run("running", 100))
    follow.last = (follow.last[0] - 10.0, 100)  # as if 10 s passed
    follow.rate = 10.0
    follow(run("running", 100))
    guessed = follow.shown
    follow(run("running", 150))  # the next real point is behind the guess
    assert guessed > 150 and follow.shown == guessed
