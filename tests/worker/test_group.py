"""silab.run_group's body (worker.group.execute_group): per-experiment claims, results and
traces of a fused group, failures that stay with their member, and a kill -9 mid-group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from test_tasks import _assert_same_trace, _experiment, _reference, _trace
from worker_helpers import small_spec

from db import queue
from db.models import Checkpoint, Experiment
from worker import group
from worker.config import WorkerSettings
from worker.group import execute_group

AddExperiment = Callable[..., int]


def _sweep(steps: int = 600) -> list[dict[str, Any]]:
    """Three cells of one shape: other step sizes, another budget, other seeds."""
    specs = [small_spec(steps=steps, points=6), small_spec(steps=steps, points=6, seeds=3)]
    faster = small_spec(steps=steps // 2, points=6)
    faster["phase1"]["stages"][0]["lr"] = "0.1/(d*log(d))"
    return [*specs, faster]


def test_a_fused_group_stores_for_every_member_what_it_stores_alone(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
) -> None:
    specs = _sweep()
    ids = [add_experiment(s) for s in specs]
    done = execute_group(ids, sessions=session_factory, settings=worker_settings, worker="w")
    assert done == dict.fromkeys(ids, "completed")
    for experiment_id, spec in zip(ids, specs, strict=True):
        _assert_same_trace(_trace(session_factory, experiment_id), _reference(spec).rows())
        experiment = _experiment(session_factory, experiment_id)
        assert experiment.status == "completed" and experiment.attempt == 1
        assert experiment.samples_done == experiment.samples_total


def test_a_member_that_fails_or_is_taken_does_not_fail_the_others(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
) -> None:
    specs = _sweep()
    ids = [add_experiment(s) for s in specs]
    taken = add_experiment(specs[0])
    with session_factory() as session:
        # a checkpoint that is not one: this member's resume raises
        session.add(Checkpoint(experiment_id=ids[1], attempt=0, samples=1, state=b"garbage"))
        queue.claim(taken, session=session, worker="another", lease_seconds=60)
        session.commit()
    group = [ids[0], ids[1], taken, ids[2]]
    done = execute_group(group, sessions=session_factory, settings=worker_settings, worker="w")
    assert done == {
        ids[0]: "completed",
        ids[1]: "failed",
        taken: "not claimed",
        ids[2]: "completed",
    }
    assert _experiment(session_factory, ids[1]).status == "failed"
    assert _experiment(session_factory, taken).worker == "another"
    for experiment_id, spec in ((ids[0], specs[0]), (ids[2], specs[2])):
        _assert_same_trace(_trace(session_factory, experiment_id), _reference(spec).rows())


def test_every_member_heartbeats_from_its_claim_while_the_others_resume(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slow resume (torch's import in a fresh child, a large checkpoint) must not starve the
    later members' heartbeats: their leases run from their claims. The first member's resume
    waits here until the second member's lease has moved; it never did while each member's
    heartbeat started only after the resumes before it, and the second lost its lease."""
    ids = [add_experiment(s) for s in _sweep()[:2]]
    moved: list[bool] = []
    resume = group._resume

    def slow_first(c: Any, sessions: sessionmaker[Session]) -> Any:
        if c.experiment_id == ids[0]:
            claimed_until = _experiment(session_factory, ids[1]).lease_expires_at
            deadline = time.monotonic() + worker_settings.lease_seconds
            while time.monotonic() < deadline and not moved:
                if _experiment(session_factory, ids[1]).lease_expires_at > claimed_until:
                    moved.append(True)
                time.sleep(worker_settings.heartbeat_seconds)  # polls the row, syncs nothing
        return resume(c, sessions)

    monkeypatch.setattr(group, "_resume", slow_first)
    done = execute_group(ids, sessions=session_factory, settings=worker_settings, worker="w")
    assert moved, "the second member's lease did not move while the first resumed"
    assert done == dict.fromkeys(ids, "completed")


CHILD = textwrap.dedent(
    """
    import sys
    from db.config import DbSettings
    from db.session import make_engine, make_sessionmaker
    from worker.config import WorkerSettings
    from worker.group import execute_group
    settings = WorkerSettings(lease_seconds=30, heartbeat_seconds=0.1, checkpoint_seconds=0.01,
                              device="cpu")
    sessions = make_sessionmaker(make_engine(DbSettings()))
    execute_group([int(i) for i in sys.argv[1:]], sessions=sessions, settings=settings,
                  worker="doomed")
    """
)


def test_kill_9_mid_group_loses_nothing_and_every_member_resumes_from_its_checkpoint(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
) -> None:
    specs = _sweep(steps=6000)
    ids = [add_experiment(s) for s in specs]
    url = session_factory.kw["bind"].url.render_as_string(hide_password=False)
    env = {**os.environ, "SILAB_DATABASE_URL": url}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *map(str, ids)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    def checkpointed() -> bool:
        with session_factory() as session:
            return all(session.get(Checkpoint, i) is not None for i in ids)

    # budget: importing torch and a few chunks on a loaded machine, with a wide margin
    deadline = time.monotonic() + 600
    while not checkpointed():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            output = child.communicate()[0].decode(errors="replace")
            raise AssertionError("the group never checkpointed every member:\n" + output[-3000:])
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    with session_factory() as session:
        statuses = [session.get(Experiment, i).status for i in ids]
        report = queue.reap(session=session, now=datetime.now(UTC) + timedelta(seconds=60))
        session.commit()
    assert "running" in statuses, statuses  # killed mid-group, not after it
    running = [i for i, s in zip(ids, statuses, strict=True) if s == "running"]
    assert sorted(report.requeued) == sorted(running)
    done = execute_group(ids, sessions=session_factory, settings=worker_settings, worker="next")
    assert all(done[i] == "completed" for i in running)
    for experiment_id, spec in zip(ids, specs, strict=True):
        _assert_same_trace(_trace(session_factory, experiment_id), _reference(spec).rows())
        assert _experiment(session_factory, experiment_id).status == "completed"
