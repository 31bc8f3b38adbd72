"""The body of silab.run_experiment (worker.tasks.execute), called directly, on a real SQLite and
PostgreSQL database with the real trainer. No broker: Celery is tested end to end in tests/e2e."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from worker_helpers import small_spec

import trainer.fused
import trainer.train
from db import queue, traces
from db.models import Checkpoint, Experiment
from trainer.results import EvalPoint
from trainer.spec import ExperimentSpec
from worker import tasks
from worker.callbacks import RunCallbacks
from worker.config import WorkerSettings

AddExperiment = Callable[..., int]


def _execute(
    sessions: sessionmaker[Session],
    settings: WorkerSettings,
    experiment_id: int,
    worker: str = "test-worker",
) -> str:
    return tasks.execute(experiment_id, sessions=sessions, settings=settings, worker=worker)


def _experiment(sessions: sessionmaker[Session], experiment_id: int) -> Experiment:
    with sessions() as session:
        experiment = session.get(Experiment, experiment_id)
        assert experiment is not None
        return experiment


def _trace(sessions: sessionmaker[Session], experiment_id: int) -> list[tuple[Any, ...]]:
    with sessions() as session:
        stored = traces.points(session=session, experiment_id=experiment_id)
        return sorted(
            (p["phase"], p["step"], p["seed"], p["samples"], p.get("mean_abs_m"), p.get("test_mse"))
            for p in stored
        )


class _Recorder:
    """Callbacks of an uninterrupted in-process run: the trace the worker must reproduce."""

    def __init__(self) -> None:
        self.points: list[EvalPoint] = []
        self.states: list[dict[str, Any]] = []

    def on_eval(self, point: EvalPoint) -> None:
        self.points.append(point)

    def should_stop(self) -> bool:
        return False

    def on_checkpoint(self, state: dict[str, Any]) -> None:
        self.states.append(state)

    def rows(self) -> list[tuple[Any, ...]]:
        rows = []
        for p in self.points:
            for i, seed in enumerate(p.seeds):
                rows.append(
                    (
                        p.phase,
                        p.step,
                        seed,
                        p.samples,
                        p.metrics["mean_abs_m"][i],
                        p.metrics["test_mse"][i],
                    )
                )
        return sorted(rows, key=lambda r: (r[0], r[1], r[2]))


def _reference(spec: dict[str, Any], checkpoint_every_s: float = 60.0) -> _Recorder:
    recorder = _Recorder()
    trainer.train.run(
        ExperimentSpec.model_validate(spec),
        device="cpu",
        callbacks=recorder,
        checkpoint_every_s=checkpoint_every_s,
    )
    return recorder


def _assert_same_trace(stored: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> None:
    """The same points (phase, step, seed, samples), none missing, none twice, same numbers."""
    assert [row[:4] for row in stored] == [row[:4] for row in expected]
    for got, want in zip(stored, expected, strict=True):
        for a, b in zip(got[4:], want[4:], strict=True):
            assert (a is None) == (b is None), got[:4]
            assert a is None or a == pytest.approx(b, rel=1e-6), got[:4]


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------


def test_run_completes_with_summary_result_and_the_full_trace(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
) -> None:
    spec = small_spec()
    experiment_id = add_experiment(spec)

    assert _execute(session_factory, worker_settings, experiment_id) == "completed"

    experiment = _experiment(session_factory, experiment_id)
    assert experiment.status == "completed"
    assert experiment.attempt == 1
    assert experiment.worker == "test-worker"
    assert experiment.finished_at is not None and experiment.lease_expires_at is None
    assert experiment.result is not None and experiment.result["status"] == "completed"
    assert len(experiment.result["seeds"]) == 2
    assert experiment.final_mean_abs_m is not None and experiment.test_mse is not None
    assert experiment.device == "cpu" and experiment.torch_version
    assert experiment.samples_done == experiment.result["samples"] > 0
    # Every evaluation point of an uninterrupted run, once per seed, with the same numbers.
    _assert_same_trace(_trace(session_factory, experiment_id), _reference(spec).rows())


def test_a_second_delivery_does_nothing(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
) -> None:
    experiment_id = add_experiment()
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def deliver(name: str) -> None:
        start.wait()
        outcomes.append(_execute(session_factory, worker_settings, experiment_id, worker=name))

    threads = [threading.Thread(target=deliver, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["completed", "not claimed"]
    # A late redelivery after the end does nothing either.
    assert _execute(session_factory, worker_settings, experiment_id) == "not claimed"
    experiment = _experiment(session_factory, experiment_id)
    assert (experiment.status, experiment.attempt) == ("completed", 1)


def test_unknown_or_cancelled_experiment_is_not_claimed(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
) -> None:
    assert _execute(session_factory, worker_settings, 999_999) == "not claimed"
    experiment_id = add_experiment()
    with session_factory() as session:
        queue.request_cancel(experiment_id, session=session)
        session.commit()
    assert _execute(session_factory, worker_settings, experiment_id) == "not claimed"
    assert _experiment(session_factory, experiment_id).status == "cancelled"
    assert _trace(session_factory, experiment_id) == []


def test_cancel_stops_a_running_run_and_keeps_its_trace(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
) -> None:
    spec = small_spec(steps=200_000, points=64)
    experiment_id = add_experiment(spec)
    outcome: list[str] = []
    thread = threading.Thread(
        target=lambda: outcome.append(_execute(session_factory, worker_settings, experiment_id))
    )
    thread.start()
    try:
        _wait_for(lambda: len(_trace(session_factory, experiment_id)) >= 4, 60, "trace points")
        with session_factory() as session:
            queue.request_cancel(experiment_id, session=session)
            session.commit()
    finally:
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert outcome == ["cancelled"]
    experiment = _experiment(session_factory, experiment_id)
    assert experiment.status == "cancelled"
    assert 0 < experiment.samples_done < 200_000
    assert len(_trace(session_factory, experiment_id)) >= 4


def test_failure_records_the_error_and_keeps_the_trace(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_run(members: Any, **kwargs: Any) -> Any:
        callbacks = members[0].callbacks
        callbacks.on_eval(EvalPoint("phase1", 0, 0, [0, 1], {"mean_abs_m": [0.1, 0.2]}))
        callbacks.on_eval(EvalPoint("phase1", 5, 5, [0, 1], {"mean_abs_m": [0.3, 0.4]}))
        raise RuntimeError("the accelerator caught fire")

    monkeypatch.setattr(trainer.fused, "run_group", broken_run)
    experiment_id = add_experiment()

    assert _execute(session_factory, worker_settings, experiment_id) == "failed"

    experiment = _experiment(session_factory, experiment_id)
    assert experiment.status == "failed"
    assert experiment.error is not None
    assert experiment.error.startswith("RuntimeError: the accelerator caught fire")
    assert "Traceback" in experiment.error and "broken_run" in experiment.error
    assert [(r[0], r[1], r[2]) for r in _trace(session_factory, experiment_id)] == [
        ("phase1", 0, 0),
        ("phase1", 0, 1),
        ("phase1", 5, 0),
        ("phase1", 5, 1),
    ]


def test_a_stored_spec_the_trainer_refuses_fails_the_experiment(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
) -> None:
    experiment_id = add_experiment()
    with session_factory() as session:
        experiment = session.get(Experiment, experiment_id)
        assert experiment is not None
        experiment.spec = {**experiment.spec, "d": -1}
        session.commit()
    assert _execute(session_factory, worker_settings, experiment_id) == "failed"
    experiment = _experiment(session_factory, experiment_id)
    assert experiment.status == "failed"
    assert experiment.error is not None and "ValidationError" in experiment.error


def test_resume_from_a_stored_checkpoint_gives_the_uninterrupted_trace(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trainer import checkpoint

    spec = small_spec(steps=2000, points=12)
    reference = _reference(spec, checkpoint_every_s=0.0)
    assert reference.states, "the reference run took no checkpoint"
    # A state about half-way, as the first attempt would have saved it before its worker died,
    # together with the points emitted up to it.
    state = reference.states[len(reference.states) // 2]
    step = int(state["step"])
    before = [p for p in reference.points if p.phase == "phase1" and p.step <= step]
    experiment_id = add_experiment(spec)
    with session_factory() as session:
        first = queue.claim(experiment_id, session=session, worker="dead", lease_seconds=1)
        assert first is not None
        for p in before:
            queue.write_trace(
                experiment_id,
                session=session,
                attempt=1,
                rows=queue.trace_rows(
                    phase=p.phase, step=p.step, samples=p.samples, seeds=p.seeds, metrics=p.metrics
                ),
            )
        assert queue.save_checkpoint(
            experiment_id,
            session=session,
            attempt=1,
            samples=before[-1].samples,
            state=checkpoint.dumps(state),
        )
        session.commit()
        report = queue.reap(session=session, now=datetime.now(UTC) + timedelta(seconds=5))
        session.commit()
    assert report.requeued == [experiment_id]

    resumed_from: list[int | None] = []
    real_run = trainer.fused.run_group

    def spy(members: Any, **kwargs: Any) -> Any:
        for m in members:
            resumed_from.append(None if m.resume is None else int(m.resume["step"]))
        return real_run(members, **kwargs)

    monkeypatch.setattr(trainer.fused, "run_group", spy)
    assert _execute(session_factory, worker_settings, experiment_id) == "completed"

    assert resumed_from == [step]
    experiment = _experiment(session_factory, experiment_id)
    assert (experiment.status, experiment.attempt) == ("completed", 2)
    _assert_same_trace(_trace(session_factory, experiment_id), reference.rows())
    with session_factory() as session:
        stored = session.get(Checkpoint, experiment_id)
        assert stored is not None and stored.attempt == 2


def test_an_attempt_that_loses_its_lease_stops_and_writes_nothing_more(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
) -> None:
    experiment_id = add_experiment(small_spec(steps=200_000, points=64))
    outcome: list[str] = []
    thread = threading.Thread(
        target=lambda: outcome.append(_execute(session_factory, worker_settings, experiment_id))
    )
    thread.start()
    try:
        _wait_for(lambda: len(_trace(session_factory, experiment_id)) >= 2, 60, "trace points")
        with session_factory() as session:  # the reaper thinks the worker died
            report = queue.reap(session=session, now=datetime.now(UTC) + timedelta(hours=1))
            session.commit()
        assert report.requeued == [experiment_id]
    finally:
        thread.join(timeout=60)
    assert outcome == ["lost lease"]
    experiment = _experiment(session_factory, experiment_id)
    assert (experiment.status, experiment.attempt, experiment.result) == ("queued", 1, None)


def test_callbacks_should_stop_is_only_a_flag(worker_settings: WorkerSettings) -> None:
    """should_stop touches no database: the trainer may call it in its inner loop."""
    callbacks = RunCallbacks(1, 1, sessions=None, settings=worker_settings)  # type: ignore[arg-type]
    start = time.perf_counter()
    for _ in range(100_000):
        assert callbacks.should_stop() is False
    assert time.perf_counter() - start < 1.0
