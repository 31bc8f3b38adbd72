"""A worker stopped by SIGTERM to its whole process group (systemd's default, a deploy, the
launchers' stop) hands its running experiment back to the queue: not failed, no attempt used up,
and the next worker resumes it from its checkpoint without waiting out the lease."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest
from e2e_helpers import Stack, wait_until
from spec_factory import small_spec
from test_worker_e2e import _api, _measured, _submit

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_a_terminated_worker_hands_its_run_back_and_the_next_resumes_it(
    stack_factory: Callable[[str, str], Stack], postgres_url: str, redis_url: str
) -> None:
    stack = stack_factory(postgres_url, redis_url)
    api = _api(stack)
    first = stack.worker("worker1")
    spec = small_spec(steps=100_000, points=24)  # long enough to be stopped mid-run
    expected, budget = _measured(spec)
    experiment_id = _submit(api, spec)

    stack.wait_checkpoint(experiment_id, budget)
    max_attempts = stack.experiment(experiment_id).max_attempts
    os.killpg(first.popen.pid, signal.SIGTERM)  # parent, pool child and beat alike
    wait_until(lambda: not first.alive(), budget, "worker1 to stop", stack.diagnose)

    handed_back = stack.experiment(experiment_id)
    assert handed_back.status == "queued", stack.diagnose()
    assert handed_back.error is None and handed_back.worker is None
    assert handed_back.max_attempts == max_attempts + 1  # the stop did not use an attempt up
    assert "handed back to the queue" in first.tail(400), first.explaining()
    stored_by_first = stack.trace(experiment_id)

    second = stack.worker("worker2")
    experiment = stack.wait_status(experiment_id, {"completed", "diverged", "failed"}, budget)
    assert experiment.status == "completed", stack.diagnose()
    assert "resuming from the checkpoint" in second.tail(400), second.explaining()
    trace = stack.trace(experiment_id)
    assert [row[:4] for row in trace] == expected  # every point once: none lost, none doubled
    assert {row[:4] for row in stored_by_first} <= {row[:4] for row in trace}
