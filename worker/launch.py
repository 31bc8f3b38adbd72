"""The command line of one worker process, for the launchers that start workers themselves
(scripts/reproduce_fig1.py, bench/service_common.py, tests/e2e): what docker-compose.yml runs,
one process per slot (`-c 1`)."""

from __future__ import annotations

import sys
from pathlib import Path


def celery_argv(
    *,
    node: str | None = None,
    queue: str | None = None,
    beat_schedule: Path | None = None,
    loglevel: str = "info",
) -> list[str]:
    """`celery -A worker.app worker -c 1`, on `queue` (None: every queue), with beat embedded
    when `beat_schedule` is given. Gossip, mingle and heartbeat are off: these workers never
    talk to each other, and the three cost start-up time and broker traffic."""
    argv = [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-c", "1", "-l", loglevel]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if node is not None:
        argv += ["-n", node]
    if queue is not None:
        argv += ["-Q", queue]
    if beat_schedule is not None:
        argv += ["-B", "-s", str(beat_schedule)]
    return argv
