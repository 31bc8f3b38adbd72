"""The tasks. Thin, like a web view: take an id, re-fetch, claim, run the trainer, persist.

`silab.run_experiment(experiment_id)` is safe to deliver twice: the claim is a conditional UPDATE
(queued → running) and a second delivery matches no row and does nothing.

While an attempt runs, worker.callbacks.RunCallbacks keeps its lease and writes its trace;
worker.endings records how it ended.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from db.config import DbSettings
from db.messages import MAINTAIN, RING_EXPIRES_S, RUN_EXPERIMENT, RUN_GROUP, RUN_QUEUE
from db.session import make_engine, make_sessionmaker
from worker import dispatch as dispatching
from worker import lost_messages
from worker.app import app
from worker.config import WorkerSettings
from worker.endings import Outcome

log = logging.getLogger(__name__)

_SESSIONS: tuple[int, sessionmaker[Session]] | None = None


def sessions() -> sessionmaker[Session]:
    """This process's sessionmaker, built on first use (never inherited across a fork)."""
    global _SESSIONS
    if _SESSIONS is None or _SESSIONS[0] != os.getpid():
        _SESSIONS = (os.getpid(), make_sessionmaker(make_engine(DbSettings())))
    return _SESSIONS[1]


def settings() -> WorkerSettings:
    return app.silab_settings


# ------------------------------------------------------------------------------------ the tasks
@app.task(name=RUN_EXPERIMENT, bind=True)
def run_experiment(self: Any, experiment_id: int) -> str:
    """One experiment (messages sent before groups existed, and a retry's)."""
    try:
        return execute(experiment_id, sessions=sessions(), settings=settings(), worker=_name(self))
    finally:
        ring()


@app.task(name=RUN_GROUP, bind=True)
def run_group(self: Any, experiment_ids: list[int]) -> dict[str, str]:
    """One fused group (db.scheduler forms it; worker.group runs it)."""
    from worker.group import execute_group

    try:
        done = execute_group(
            [int(i) for i in experiment_ids],
            sessions=sessions(),
            settings=settings(),
            worker=_name(self),
        )
    finally:
        ring()
    return {str(k): v for k, v in done.items()}


def ring() -> None:
    """Ask for a dispatcher round now that this slot is free. Without it the next queued group
    waited for beat's round, up to SILAB_DISPATCH_INTERVAL_S (5 s) of an idle worker after every
    group: a sweep run one experiment per group spent 4.9 s per experiment idle
    (docs/results/bench_sweep_throughput.json). A broker that does not take it is only logged:
    beat's round dispatches anyway."""
    try:
        maintain.apply_async(kwargs={"reap": False}, expires=RING_EXPIRES_S, retry=False)
    except Exception:  # whatever a down broker raises: the run itself has ended well
        log.warning("could not ring the dispatcher; beat's round will dispatch", exc_info=True)


def _name(task: Any) -> str:
    return f"{task.request.hostname or socket.gethostname()} pid {os.getpid()}"


@app.task(name=MAINTAIN)
def maintain(reap: bool = True, dispatch: bool = True) -> dict[str, Any]:
    s = settings()
    resend_after_s = s.resend_after_s
    if dispatch:
        resend_after_s = lost_messages.resend_after(
            app, RUN_QUEUE, resend_after_s=s.resend_after_s, lost_after_s=s.lost_after_s
        )
    report = dispatching.maintain(
        sessions(),
        send_group,
        reap=reap,
        dispatch=dispatch,
        resend_after_s=resend_after_s,
        slots=s.worker_slots,
        default_max_running=s.default_max_running,
        limit=s.dispatch_batch,
    )
    return report.as_dict()


def send_group(experiment_ids: list[int]) -> None:
    """Send silab.run_group(experiment_ids); raises when the broker does not take it."""
    run_group.apply_async(
        args=[list(experiment_ids)],
        retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
    )


# ----------------------------------------------------------------------------------- the body
def execute(
    experiment_id: int,
    *,
    sessions: sessionmaker[Session],
    settings: WorkerSettings,
    worker: str,
) -> Outcome:
    """Claim and run one attempt (a group of one, worker.group); what happened."""
    from worker.group import execute_group

    outcome = execute_group([experiment_id], sessions=sessions, settings=settings, worker=worker)
    return outcome[experiment_id]
