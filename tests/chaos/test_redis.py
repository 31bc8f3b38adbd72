"""Redis faults: the broker killed while a run is in progress and a message waits in its queue,
submissions while it is down, and a restart without persistence (every waiting message lost).
Submissions answer 201, the running run completes, the never-sent ones are sent once the broker
is back, and the lost message is sent again as soon as the queue is seen empty, not after
SILAB_RESEND_AFTER_S (set to an hour here, so only that path can start it in time)."""

from __future__ import annotations

import time

import pytest
from chaos_helpers import Work, explain, figures, key, submit, wait_final
from e2e_helpers import wait_until
from spec_factory import small_spec

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(900)]

SETTINGS = {
    "SILAB_WORKER_SLOTS": "2",  # one run worker: the second slot's message waits in Redis
    "SILAB_RESEND_AFTER_S": "3600",
    "SILAB_LOST_AFTER_S": "5",
    "SILAB_LEASE_SECONDS": "30",
}


def test_redis_down_during_a_run_and_submits_then_restarted_empty(
    chaos_stack, redis_server, record
) -> None:
    stack = chaos_stack
    work = Work.measure(small_spec(steps=12_000, points=8))
    api = stack.api(**SETTINGS)
    headers = key(stack)
    # The production layout (docker-compose.yml): the doorbell's round runs in the maintenance
    # worker, so it is not stuck behind the run as in a one-process worker that consumes both
    # queues (there the second message would only be sent once the first run ended).
    stack.worker("maintain", queue="silab.maintain", **SETTINGS)
    stack.worker("run", queue="celery", beat=False, **SETTINGS)
    running, _ = submit(api, headers, work.spec, work.budget(1))
    stack.wait_status(running, {"running"}, work.budget(1))
    waiting, _ = submit(api, headers, work.spec, work.budget(1))
    wait_until(  # the doorbell's round sends it; it waits in Redis behind the busy run worker
        lambda: stack.experiment(waiting).dispatched_at is not None,
        work.budget(1),
        "the second experiment to be sent",
        lambda: explain(stack),
    )

    redis_server.stop()
    # The scenario needs the second message still waiting in Redis when it goes: a run of
    # several seconds (12k steps) against a round of well under one, on a loaded machine too.
    assert stack.experiment(waiting).attempt == 0, explain(stack)
    down_ids = [submit(api, headers, work.spec, work.budget(1)) for _ in range(2)]
    assert all(unavailable == 0 for _, unavailable in down_ids)  # 201 at once, broker or not
    redis_server.start()  # empty: the waiting message is gone
    back_at = time.monotonic()

    ids = [running, waiting, *(i for i, _ in down_ids)]
    wait_until(
        lambda: stack.experiment(waiting).attempt >= 1,
        work.budget(2, extra_s=30),
        "the lost message's experiment to start",
        lambda: explain(stack),
    )
    lost_message_started_s = time.monotonic() - back_at
    wait_final(stack, ids, work.budget(len(ids), extra_s=30))
    counts = figures(stack, ids, work)
    record(**counts, lost_message_started_after_s=round(lost_message_started_s, 1))
    assert counts["completed"] == len(ids), counts
    assert counts["recomputed_runs"] == 0, counts
    assert counts["duplicated_points"] == counts["missing_points"] == 0, counts
