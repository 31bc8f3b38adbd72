"""A run worker that finishes a group rings the dispatcher: the next queued group starts then, not
at beat's next round (worker.tasks.ring)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from e2e_helpers import Stack
from spec_factory import small_spec
from test_worker_e2e import _api, _measured, _submit

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

# One slot, one experiment per group, beat's round an hour away, and the pool split as
# docker-compose.yml runs it (a worker that also consumed silab.maintain would run the second
# submit's ring only once its run ended, which would hide a missing ring): after the first
# experiment's group, only the run worker's own ring can dispatch the second.
ONE_AT_A_TIME = {
    "SILAB_WORKER_SLOTS": "1",
    "SILAB_GROUP_MAX_EXPERIMENTS": "1",
    "SILAB_DISPATCH_INTERVAL_S": "3600",
}


def test_the_next_group_starts_when_one_ends_with_beat_an_hour_away(
    stack_factory: Callable[[str, str], Stack], postgres_url: str, redis_url: str
) -> None:
    stack = stack_factory(postgres_url, redis_url)
    api = _api(stack, **ONE_AT_A_TIME)
    stack.worker("maintain", queue="silab.maintain", **ONE_AT_A_TIME)
    stack.worker("run", queue="celery", beat=False, **ONE_AT_A_TIME)
    spec = small_spec()
    _, budget = _measured(spec)
    first, second = _submit(api, spec), _submit(api, spec)

    done = stack.wait_status(first, {"completed", "diverged", "failed"}, budget)
    assert done.status == "completed", stack.diagnose()
    # The second waited for the slot; nothing but the finished group's ring dispatches it now.
    done = stack.wait_status(second, {"completed", "diverged", "failed"}, budget)
    assert done.status == "completed", stack.diagnose()
