"""PostgreSQL faults: stopped for 30 s while a run ends and submissions arrive, restarted fast
and immediately mid-run. The API answers 503 + Retry-After (never 500), the workers reconnect by
themselves, every run completes at its first attempt (its final write waits for the database),
and every trace point is stored exactly once."""

from __future__ import annotations

import time

import httpx
import pytest
from chaos_helpers import Work, figures, key, submit, wait_final
from e2e_helpers import wait_until
from spec_factory import small_spec

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(900)]

OUTAGE_S = 30.0
# A lease longer than the outage: a run that cannot heartbeat for 30 s is not reaped for it.
LEASE = {"SILAB_LEASE_SECONDS": "90", "SILAB_WORKER_SLOTS": "1"}


@pytest.fixture(scope="module")
def work() -> Work:
    return Work.measure(small_spec(steps=4_000, points=8))


def test_postgres_stopped_for_30_s(chaos_stack, postgres_cluster, work, record) -> None:
    stack = chaos_stack
    api = stack.api(**LEASE)
    headers = key(stack)
    stack.worker("worker", **LEASE)
    first, _ = submit(api, headers, work.spec, work.budget(1))
    stack.wait_status(first, {"running"}, work.budget(1))

    postgres_cluster.stop("fast")
    down_at = time.monotonic()
    answers: dict[int, int] = {}
    while time.monotonic() - down_at < OUTAGE_S:  # the outage itself: requests all along
        for method, path in (("GET", "/experiments"), ("POST", "/experiments")):
            response = httpx.request(
                method, f"{api}{path}", json={"spec": work.spec}, headers=headers, timeout=30
            )
            answers[response.status_code] = answers.get(response.status_code, 0) + 1
            if response.status_code == 503:
                assert response.headers.get("Retry-After"), response.headers
        time.sleep(0.5)  # paces the probes; the outage length is the scenario, not a wait
    postgres_cluster.start()
    up_at = time.monotonic()

    def answers_again() -> bool:
        return httpx.get(f"{api}/experiments", headers=headers, timeout=30).status_code == 200

    wait_until(answers_again, work.budget(1), "the API to answer after the outage")
    recovered_s = time.monotonic() - up_at
    ids = [first] + [submit(api, headers, work.spec, work.budget(1))[0] for _ in range(1)]
    wait_final(stack, ids, work.budget(len(ids), extra_s=OUTAGE_S))

    counts = figures(stack, ids, work)
    record(
        **counts,
        outage_s=OUTAGE_S,
        answers_during_outage={str(k): v for k, v in sorted(answers.items())},
        api_recovered_s=round(recovered_s, 2),
    )
    assert set(answers) == {503}, answers
    assert counts["completed"] == len(ids), counts
    assert counts["recomputed_runs"] == 0, counts  # the final write waited for the database
    assert counts["duplicated_points"] == counts["missing_points"] == 0, counts


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restarted_mid_run_and_mid_submit(
    chaos_stack, postgres_cluster, work, record, mode
) -> None:
    stack = chaos_stack
    api = stack.api(**LEASE)
    headers = key(stack)
    stack.worker("worker", **LEASE)
    ids = [submit(api, headers, work.spec, work.budget(1))[0]]
    stack.wait_status(ids[0], {"running"}, work.budget(1))
    started = time.monotonic()
    postgres_cluster.restart(mode)
    unavailable = 0
    for _ in range(2):  # submissions right after the restart: retried on 503, never duplicated
        experiment_id, seen = submit(api, headers, work.spec, work.budget(1))
        ids.append(experiment_id)
        unavailable += seen
    recovered_s = time.monotonic() - started
    wait_final(stack, ids, work.budget(len(ids)))
    counts = figures(stack, ids, work)
    record(**counts, mode=mode, answers_503=unavailable, submit_recovered_s=round(recovered_s, 2))
    assert counts["completed"] == len(ids), counts
    assert counts["recomputed_runs"] == 0, counts
    assert counts["duplicated_points"] == counts["missing_points"] == 0, counts
