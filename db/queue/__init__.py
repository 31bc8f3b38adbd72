"""The queue: the queries the API and the worker share, one module per state change.

Every state change of an experiment is ONE conditional UPDATE (see docs/design.md): whoever's
UPDATE matches the row wins, everyone else gets 0 rows and backs off. That makes a redelivered
task, a second worker, a zombie attempt that lost its lease and two reapers running at once all
harmless.

Conventions:
- The caller owns the transaction: nothing here commits. Commit right after a claim, a
  heartbeat, a trace write, a checkpoint or a finish (each is meant to be its own transaction;
  holding one open keeps row locks on PostgreSQL and the write lock on SQLite).
- Arguments after the experiment id are keyword-only, `session` included.
- `now` (timezone-aware) may be passed to any function that looks at the clock; the default is
  the current UTC time. Naive datetimes are refused.
- "Not found" is None or False, never an exception; bad arguments raise ValueError.

The modules: claims (queued → running), leases (the heartbeat), trace_points and checkpoints
(what a running attempt writes), endings (finish, fail, mark_cancelled), cancels and retries (the
API side), reaper (expired leases) and summary (the summary columns). Callers import the names
below from `db.queue`.
"""

from db.models import SUMMARY_COLUMNS
from db.queue.cancels import cancel, request_cancel
from db.queue.checkpoints import load_checkpoint, save_checkpoint
from db.queue.claims import claim
from db.queue.endings import (
    FINISH_STATUSES,
    MAX_ERROR_CHARS,
    diverged_error,
    fail,
    finish,
    mark_cancelled,
)
from db.queue.leases import HeartbeatReply, heartbeat
from db.queue.priorities import reprioritize
from db.queue.reaper import ReapReport, reap
from db.queue.releases import release
from db.queue.retries import DEFAULT_RETRY_ATTEMPTS, RETRYABLE, retry
from db.queue.summary import summary_from_result
from db.queue.trace_points import trace_rows, write_trace

__all__ = [
    "DEFAULT_RETRY_ATTEMPTS",
    "FINISH_STATUSES",
    "MAX_ERROR_CHARS",
    "RETRYABLE",
    "SUMMARY_COLUMNS",
    "HeartbeatReply",
    "ReapReport",
    "cancel",
    "claim",
    "diverged_error",
    "fail",
    "finish",
    "heartbeat",
    "load_checkpoint",
    "mark_cancelled",
    "reap",
    "release",
    "reprioritize",
    "request_cancel",
    "retry",
    "save_checkpoint",
    "summary_from_result",
    "trace_rows",
    "write_trace",
]
