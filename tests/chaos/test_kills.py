"""kill -9 of run workers at random points (right after a claim, mid-run after a checkpoint,
at the end of Phase I) and of the maintenance worker (beat and the reaper), as docker-compose.yml
runs the pool: two run workers and a maintenance worker. A replacement starts after each kill.
Every run completes, resumed from its checkpoint, with every trace point once; the figures give
kill → reclaim times (the lease, SILAB_LEASE_SECONDS = 10 here, plus a replacement
worker's start, which the clock includes)."""

from __future__ import annotations

import random
import signal
import time

import pytest
from chaos_helpers import FINAL, Work, explain, figures, key, submit, wait_final
from e2e_helpers import Proc, Stack, wait_until
from spec_factory import small_spec

from db.models import Checkpoint, Experiment

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(900)]

SETTINGS = {"SILAB_WORKER_SLOTS": "2", "SILAB_LOST_AFTER_S": "5"}
POINTS = ("claim", "mid-run", "maintenance", "late")
# Each kill of a run worker costs every member of its fused group one attempt, and the victims
# are picked lowest id first, so one experiment may be hit at every point: the attempts must
# outlast the kills (with the default 3, a third hit ended as "attempts exhausted").
ATTEMPTS = sum(point != "maintenance" for point in POINTS) + 1


def _rows(stack: Stack) -> list[Experiment]:
    with stack.sessions()() as session:
        return list(session.query(Experiment).order_by(Experiment.id))


def _checkpointed(stack: Stack, experiment_id: int) -> bool:
    with stack.sessions()() as session:
        stored = session.get(Checkpoint, experiment_id)
        return stored is not None and stored.samples > 0


def _owner(workers: list[Proc], experiment: Experiment) -> Proc | None:
    return next((w for w in workers if experiment.worker and w.node in experiment.worker), None)


def test_run_and_maintenance_workers_killed_at_random_points(chaos_stack, record) -> None:
    stack = chaos_stack
    rng = random.Random(12)
    work = Work.measure(small_spec(steps=6_000, points=12))
    api = stack.api(**SETTINGS)
    headers = key(stack)
    maintenance = stack.worker("maintain", queue="silab.maintain", **SETTINGS)
    workers = [stack.worker(f"run{i}", queue="celery", beat=False, **SETTINGS) for i in (1, 2)]
    ids = [
        submit(api, headers, work.spec, work.budget(1), max_attempts=ATTEMPTS)[0] for _ in range(4)
    ]
    budget = work.budget(len(ids), extra_s=60)

    kills: list[dict[str, object]] = []
    for point in POINTS:
        if point == "maintenance":
            maintenance.kill(signal.SIGKILL)
            maintenance = stack.worker("maintain2", queue="silab.maintain", **SETTINGS)
            kills.append({"point": point})
            continue

        def victim(point: str = point) -> tuple[Experiment, Proc] | tuple[None, None] | None:
            rows = _rows(stack)
            if all(row.status in FINAL for row in rows):
                return None, None  # everything ended before this point came: no kill
            for experiment in rows:
                owner = _owner(workers, experiment)
                if experiment.status != "running" or owner is None:
                    continue
                if point == "mid-run" and not _checkpointed(stack, experiment.id):
                    continue
                if point == "late" and experiment.samples_done < 0.5 * 6_000:
                    continue
                return experiment, owner
            return None

        found = wait_until(victim, budget, f"a run to kill at {point}", lambda: explain(stack))
        experiment, owner = found
        if experiment is None or owner is None:
            continue
        time.sleep(rng.uniform(0, 0.3))  # a random moment around the point
        owner.kill(signal.SIGKILL)
        killed_at = time.monotonic()
        workers.remove(owner)
        workers.append(stack.worker(f"run{len(kills) + 3}", queue="celery", beat=False, **SETTINGS))
        attempt = experiment.attempt

        def reclaimed(experiment_id: int = experiment.id, attempt: int = attempt) -> bool:
            row = stack.experiment(experiment_id)
            return row.attempt > attempt or row.status in {"completed", "failed"}

        wait_until(
            reclaimed, budget, f"experiment {experiment.id} reclaimed", lambda: explain(stack)
        )
        kills.append(
            {
                "point": point,
                "experiment": experiment.id,
                "reclaim_s": round(time.monotonic() - killed_at, 1),
            }
        )
    wait_final(stack, ids, budget)
    counts = figures(stack, ids, work)
    # A lease is lost only by a dead worker: a live one that logs it was starved (the members
    # of a group once waited for the resumes before theirs to start their heartbeats).
    starved = [
        line
        for proc in stack.procs
        for line in proc.explaining(lines=10_000).splitlines()
        if "lost its lease; stopping" in line
    ]
    record(**counts, kills=kills, leases_lost_without_a_kill=len(starved))
    assert counts["completed"] == len(ids), (counts, explain(stack))
    assert not starved, (starved, explain(stack))
    assert counts["duplicated_points"] == counts["missing_points"] == 0, counts
