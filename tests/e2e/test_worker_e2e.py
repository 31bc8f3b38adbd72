"""The whole service in real processes: API (uvicorn) → broker → Celery worker (+ beat) →
database, on Redis + PostgreSQL and on the embedded SQLite broker + SQLite database; a worker
killed with SIGKILL mid-run; cancels; a submission while the broker is down."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from e2e_helpers import Stack, wait_until
from spec_factory import small_spec

from trainer.results import EvalPoint
from trainer.spec import ExperimentSpec

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

StackFactory = Callable[[str, str], Stack]
KEYS: dict[str, str] = {}  # API URL -> the admin key it wrote on its first start


def _auth(api: str) -> dict[str, str]:
    """Every route but /health needs a key: the admin key the API wrote into its data folder on
    its first start, where `silab` finds it."""
    return {"Authorization": f"Bearer {KEYS[api]}"}


def _api(stack: Stack, **env: str) -> str:
    api = stack.api(**env)
    KEYS[api] = (stack.tmp / "data" / "admin.key").read_text().strip()
    return api


def _sqlite_broker(stack_tmp: Any) -> str:
    return f"sqla+sqlite:///{stack_tmp / 'data' / 'broker.db'}"


def _submit(api: str, spec: dict[str, Any], **fields: Any) -> int:
    response = httpx.post(
        f"{api}/experiments", json={"spec": spec, **fields}, headers=_auth(api), timeout=30
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _budget(seconds: float) -> float:
    """Seconds to wait for a run that took `seconds` here uninterrupted: a loaded 2-core
    machine is 10x slower than an idle one, and the worker's child imports torch first."""
    return 20 * (seconds + 3) + 60


def _measured(spec: dict[str, Any]) -> tuple[list[tuple[str, int, int, int]], float]:
    """The points an uninterrupted run emits (_expected_points) and its budget here."""
    started = time.monotonic()
    points = _expected_points(spec)
    return points, _budget(time.monotonic() - started)


def _expected_points(spec: dict[str, Any]) -> list[tuple[str, int, int, int]]:
    """(phase, step, seed, samples) of every point an uninterrupted run emits."""
    import trainer.train

    points: list[EvalPoint] = []

    class Record:
        def on_eval(self, point: EvalPoint) -> None:
            points.append(point)

        def should_stop(self) -> bool:
            return False

        def on_checkpoint(self, state: dict[str, Any]) -> None:
            pass

    trainer.train.run(ExperimentSpec.model_validate(spec), device="cpu", callbacks=Record())
    return sorted((p.phase, p.step, seed, p.samples) for p in points for seed in p.seeds)


def _api_trace(api: str, experiment_id: int) -> list[tuple[str, int, int, int]]:
    response = httpx.get(
        f"{api}/experiments/{experiment_id}/trace",
        params={"max_points": 1_000_000},
        headers=_auth(api),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return sorted(
        (p["phase"], p["step"], p["seed"], p["samples"]) for p in response.json()["points"]
    )


def _run_one(stack: Stack, *, split_pool: bool = False) -> None:
    api = _api(stack)
    if split_pool:  # as docker-compose.yml runs it: a GPU worker and a maintenance worker
        stack.worker("gpu0", queue="celery", beat=False)
        stack.worker("maintain", queue="silab.maintain")
    else:  # as scripts/demo runs it: one process, beat embedded
        stack.worker()
    spec = small_spec()
    expected, budget = _measured(spec)
    experiment_id = _submit(api, spec, name="e2e")
    experiment = stack.wait_status(experiment_id, {"completed", "diverged", "failed"}, budget)
    assert experiment.status == "completed", stack.diagnose()
    assert experiment.attempt == 1 and experiment.dispatched_at is not None
    assert httpx.get(f"{api}/experiments/{experiment_id}", timeout=30).status_code == 401
    shown = httpx.get(f"{api}/experiments/{experiment_id}", headers=_auth(api), timeout=30).json()
    assert shown["status"] == "completed"
    assert shown["final_mean_abs_m"] is not None and shown["test_mse"] is not None
    assert _api_trace(api, experiment_id) == expected


# ---------------------------------------------------------------------------------------------


def test_redis_and_postgres_run_a_submission(
    stack_factory: StackFactory, postgres_url: str, redis_url: str
) -> None:
    _run_one(stack_factory(postgres_url, redis_url), split_pool=True)


def test_embedded_sqlite_broker_and_database_run_a_submission(
    stack_factory: StackFactory, sqlite_url: str, tmp_path: Any
) -> None:
    _run_one(stack_factory(sqlite_url, _sqlite_broker(tmp_path)))


def test_a_killed_worker_is_reaped_and_the_next_resumes_without_gaps_or_duplicates(
    stack_factory: StackFactory, postgres_url: str, redis_url: str
) -> None:
    stack = stack_factory(postgres_url, redis_url)
    api = _api(stack)
    first = stack.worker("worker1")
    # Long enough that the kill lands after the first checkpoint (every 0.5 s) and well before
    # the end, however fast the trainer gets. The budget comes from running the same spec here
    # first (the uninterrupted points are needed anyway): a loaded 2-core machine ran it at
    # 0.5 ms a step, 10x the 50 µs an idle one does, so a fixed 60 s did not hold.
    spec = small_spec(steps=100_000, points=24)
    expected, budget = _measured(spec)
    experiment_id = _submit(api, spec)

    stack.wait_checkpoint(experiment_id, budget)
    first.kill(signal.SIGKILL)  # the whole worker: parent, pool child and beat
    stored_by_first = stack.trace(experiment_id)
    before = stack.experiment(experiment_id)
    assert (before.status, before.attempt) == ("running", 1), stack.diagnose()

    second = stack.worker("worker2")
    experiment = stack.wait_status(experiment_id, {"completed", "diverged", "failed"}, budget)
    assert experiment.status == "completed", stack.diagnose()
    assert experiment.attempt == 2
    assert "resuming from the checkpoint" in second.tail(400), second.tail()
    # Every expected point exactly once: none lost with the dead worker, none written twice.
    trace = stack.trace(experiment_id)
    assert [row[:4] for row in trace] == expected
    # The first attempt had stored points (with its checkpoint); the second rewrote their chunks
    # whole, keeping them, and appended the rest.
    assert stored_by_first and {row[4] for row in stored_by_first} == {1}
    assert {row[:4] for row in stored_by_first} <= {row[:4] for row in trace}


def test_cancel_of_a_queued_and_of_a_running_experiment(
    stack_factory: StackFactory, sqlite_url: str, tmp_path: Any
) -> None:
    stack = stack_factory(sqlite_url, _sqlite_broker(tmp_path))
    api = _api(stack)
    _, budget = _measured(small_spec())  # the waits below are for far less than a whole run
    # Queued: no worker yet, so it waits in the broker; cancelled, it never starts.
    queued = _submit(api, small_spec())
    response = httpx.post(f"{api}/experiments/{queued}/cancel", headers=_auth(api), timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"

    stack.worker()
    running = _submit(api, small_spec(steps=200_000, points=64))
    stack.wait_status(running, {"running"}, budget)
    wait_until(lambda: len(stack.trace(running)) >= 4, budget, "trace points", stack.diagnose)
    response = httpx.post(f"{api}/experiments/{running}/cancel", headers=_auth(api), timeout=30)
    assert response.status_code == 200, response.text
    experiment = stack.wait_status(running, {"cancelled", "completed", "failed"}, budget)
    assert experiment.status == "cancelled", stack.diagnose()
    assert 0 < experiment.samples_done < 200_000
    assert len(stack.trace(running)) >= 4  # the trace is kept

    # The queued one's message was delivered meanwhile and did nothing.
    cancelled = stack.experiment(queued)
    assert (cancelled.status, cancelled.attempt) == ("cancelled", 0)
    assert stack.trace(queued) == []


def test_a_submission_while_the_broker_is_down_runs_once_a_worker_is_up(
    stack_factory: StackFactory, postgres_url: str, redis_url: str
) -> None:
    stack = stack_factory(postgres_url, redis_url)
    closed = "redis://127.0.0.1:6390/0"  # nothing listens there
    api = _api(stack, SILAB_BROKER_URL=closed)
    spec = small_spec()
    expected, budget = _measured(spec)
    experiment_id = _submit(api, spec)
    experiment = stack.experiment(experiment_id)
    assert (experiment.status, experiment.dispatched_at) == ("queued", None)

    stack.worker()  # on the real broker; its beat's dispatcher sends what was never sent
    experiment = stack.wait_status(experiment_id, {"completed", "diverged", "failed"}, budget)
    assert experiment.status == "completed", stack.diagnose()
    assert experiment.attempt == 1 and experiment.dispatched_at is not None
    assert [row[:4] for row in stack.trace(experiment_id)] == expected
