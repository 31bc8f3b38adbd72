"""pool_state's "last handed a slot" per owner: the later of the latest started_at and the latest
dispatched_at, read per owner (indexed max) in chunks of 100 owners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from db import scheduler


def test_last_start_per_owner_across_chunks(make_experiment, session):
    base = datetime(2026, 1, 1, tzinfo=UTC)
    expected = {}
    for k in range(130):  # more than one chunk of 100 owners
        owner = f"u{k:03d}"
        started = base + timedelta(minutes=k)
        dispatched = base + timedelta(minutes=k, seconds=30 if k % 2 else -30)
        make_experiment(owner=owner, status="completed", started_at=started, dispatched_at=base)
        make_experiment(owner=owner, status="running", started_at=base, dispatched_at=dispatched)
        expected[owner] = max(started, dispatched)
    make_experiment(owner="never", status="queued")  # neither time: absent
    pool = scheduler.pool_state(
        session=session,
        slots=4,
        default_max_running=None,
        resend_after_s=600,
        owners={*expected, "never"},
        now=base + timedelta(days=1),
    )
    assert pool.last_start == expected
    assert pool.busy == dict.fromkeys(expected, 1)
