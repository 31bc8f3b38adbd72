"""A run stops at its wall-clock limit (the spec's max_wall_s, capped by SILAB_MAX_WALL_S): it
ends failed with the limit and its progress in `error`, its trace, checkpoint and partial result
kept; in a fused group only the member that reached it stops. And samples_done moves with every
heartbeat, not only at evaluation points.

No timing assertions: a limit of a fraction of a second on a budget no test could wait for, and a
wait whose budget is the limit plus a wide margin for the start (torch import, the first chunk)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker
from test_tasks import _experiment, _trace, _wait_for
from worker_helpers import small_spec

from db import queue
from db.config import LabSettings
from db.models import Checkpoint
from worker.config import WorkerSettings
from worker.group import execute_group

AddExperiment = Callable[..., int]

LIMIT_S = 0.3
ENDLESS_STEPS = 10**12  # batch 1: 10¹² samples, years of work
START_MARGIN_S = 120.0  # a cold child imports torch and runs its first chunk under load


@contextmanager
def running(
    ids: list[int], sessions: sessionmaker[Session], settings: WorkerSettings
) -> Iterator[dict[int, str]]:
    """execute_group in a thread; on the way out a cancel for whatever still runs (a failed
    test must not leave an endless run behind), then the join."""
    done: dict[int, str] = {}
    thread = threading.Thread(
        target=lambda: done.update(
            execute_group(ids, sessions=sessions, settings=settings, worker="w")
        )
    )
    thread.start()
    try:
        yield done
    finally:
        with sessions() as session:
            for experiment_id in ids:
                queue.request_cancel(experiment_id, session=session)
            session.commit()
        thread.join(timeout=START_MARGIN_S)
        assert not thread.is_alive()


def test_a_run_that_reaches_its_limit_ends_failed_and_keeps_its_trace(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
) -> None:
    settings = worker_settings.model_copy(update={"max_wall_s": LIMIT_S})
    experiment_id = add_experiment(small_spec(steps=ENDLESS_STEPS, points=16))
    with running([experiment_id], session_factory, settings) as done:
        _wait_for(lambda: bool(done), LIMIT_S + START_MARGIN_S, "the run to stop at its limit")
    assert done == {experiment_id: "timed_out"}
    experiment = _experiment(session_factory, experiment_id)
    assert experiment.status == "failed"
    assert 0 < experiment.samples_done < experiment.samples_total
    assert experiment.error == (
        f"wall-clock limit of {LIMIT_S:g} s reached after {experiment.samples_done} samples"
    )
    assert experiment.result is not None and experiment.result["status"] == "timed_out"
    assert experiment.test_mse is None  # not a finished run: no summary to sort by
    assert _trace(session_factory, experiment_id)  # the points written before the stop
    with session_factory() as session:
        stored = session.get(Checkpoint, experiment_id)
        assert stored is not None and stored.samples == experiment.samples_done


def test_in_a_fused_group_the_member_past_its_own_limit_stops_and_the_other_completes(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
) -> None:
    endless = {**small_spec(steps=ENDLESS_STEPS, points=16), "max_wall_s": LIMIT_S}
    ids = [add_experiment(endless), add_experiment(small_spec(steps=200))]
    with running(ids, session_factory, worker_settings) as done:
        _wait_for(lambda: len(done) == 2, LIMIT_S + START_MARGIN_S, "both members to end")
    assert done == {ids[0]: "timed_out", ids[1]: "completed"}
    assert _experiment(session_factory, ids[0]).error.startswith(  # type: ignore[union-attr]
        f"wall-clock limit of {LIMIT_S:g} s reached after "
    )


def test_a_spec_limit_above_the_servers_is_capped_and_none_gets_the_servers() -> None:
    settings = LabSettings(max_wall_s=600.0)
    assert settings.wall_limit_s(None) == 600.0
    assert settings.wall_limit_s(60.0) == 60.0
    assert settings.wall_limit_s(6000.0) == 600.0  # accepted under a larger limit earlier


def test_samples_done_moves_between_evaluation_points(
    session_factory: sessionmaker[Session],
    add_experiment: AddExperiment,
    worker_settings: WorkerSettings,
) -> None:
    # Two log-spaced evaluation points on a budget of 10¹² samples: after the first few
    # samples the next evaluation is years away, so only progress reports move samples_done.
    experiment_id = add_experiment(small_spec(steps=ENDLESS_STEPS, points=2))

    def done() -> int:
        return _experiment(session_factory, experiment_id).samples_done

    with running([experiment_id], session_factory, worker_settings):
        _wait_for(lambda: done() > 0, START_MARGIN_S, "samples_done to move")
        first = done()
        _wait_for(lambda: done() > first, START_MARGIN_S, "samples_done to move at a later beat")
        evaluated = max(row[3] for row in _trace(session_factory, experiment_id))
        assert done() > max(first, evaluated)
