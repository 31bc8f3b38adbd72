"""The disk full under the embedded default (SQLite database and broker in the data folder, as
`scripts/demo` runs it): the data folder is a small tmpfs, filled to the last byte while a run
is in progress.

While it is full a submission is a 507 that says the disk is full (never a 500), reads still
answer (experiments, traces, the rate limit), and the worker's writes fail with "database or
disk is full" in its log while the run waits. Once space is freed, submissions are taken again,
the run completes with every trace point once, and nothing stored before is changed or
corrupted (PRAGMA integrity_check, every earlier experiment and trace read back the same)."""

from __future__ import annotations

import errno
import sqlite3
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from chaos_helpers import SMALL_DISK, Work, explain, figures, key, wait_final
from e2e_helpers import Stack, wait_until
from spec_factory import small_spec

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(900)]

SETTINGS = {"SILAB_WORKER_SLOTS": "1"}  # the rate limit stays on: its file is in the folder too
SUBMITS_WHILE_FULL = 5
DISK_FULL = "database or disk is full"  # SQLite's text for SQLITE_FULL, in the worker's log


def fill(folder: Path) -> Path:
    """A file that takes every free byte of the folder's filesystem."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (1 << 20, 1 << 12, 1):
            block = b"\0" * size
            try:
                while True:
                    out.write(block)
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
    return filler


def truncate_wal(database: Path, budget: float) -> None:
    """Fold the write-ahead log into the database and empty it, so that the next write needs
    new space at once (a WAL that already holds room would take writes on a full disk)."""

    def truncated() -> bool:
        with sqlite3.connect(database, timeout=30) as db:
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy == 0

    wait_until(truncated, budget, "the write-ahead log to be truncated")


def post(api: str, headers: dict[str, str], spec: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{api}/experiments",
        json={"spec": spec},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        timeout=60,
    )


def snapshot(api: str, headers: dict[str, str], ids: list[int]) -> dict[int, tuple[Any, str]]:
    """Each experiment as GET answers it, and its whole trace as CSV."""
    out = {}
    for experiment_id in ids:
        row = httpx.get(f"{api}/experiments/{experiment_id}", headers=headers, timeout=60)
        trace = httpx.get(
            f"{api}/experiments/{experiment_id}/trace",
            params={"format": "csv"},
            headers=headers,
            timeout=60,
        )
        assert row.status_code == trace.status_code == 200, (row.text, trace.text)
        out[experiment_id] = (row.json(), trace.text)
    return out


def test_disk_full_under_the_embedded_default(small_disk_stack: Stack, record) -> None:
    stack = small_disk_stack
    data = stack.tmp / "data"
    work = Work.measure(small_spec(steps=60_000, points=12))
    api = stack.api(**SETTINGS)
    headers = key(stack)
    worker = stack.worker("worker", **SETTINGS)  # with beat, as scripts/demo runs it

    earlier = post(api, headers, work.spec).json()["id"]
    wait_final(stack, [earlier], work.budget(1))
    before = snapshot(api, headers, [earlier])
    running = post(api, headers, work.spec).json()["id"]
    stack.wait_checkpoint(running, work.budget(1))

    truncate_wal(data / "silab.db", work.budget(1))
    filler = fill(data)
    full_at = time.monotonic()
    answers = [post(api, headers, work.spec) for _ in range(SUBMITS_WHILE_FULL)]
    statuses = Counter(response.status_code for response in answers)
    details = {response.json().get("detail", "") for response in answers}
    wait_until(  # the run's next heartbeat or checkpoint meets the full disk
        lambda: DISK_FULL in worker.explaining(lines=10_000),
        work.budget(1),
        "the worker to meet the full disk",
        lambda: explain(stack),
    )
    assert snapshot(api, headers, [earlier]) == before  # reads answer while it is full
    assert stack.experiment(running).status == "running", explain(stack)

    filler.unlink()
    freed_at = time.monotonic()

    def taken() -> httpx.Response | None:
        response = post(api, headers, work.spec)
        return response if response.status_code == 201 else None

    after = wait_until(
        taken,
        work.budget(1),
        "a submission to be taken once space is freed",
        lambda: explain(stack),
    )
    recovered_s = time.monotonic() - freed_at
    ids = [earlier, running, after.json()["id"]]
    wait_final(stack, ids, work.budget(len(ids) + 1, extra_s=60))

    with sqlite3.connect(data / "silab.db") as db:
        integrity = db.execute("PRAGMA integrity_check").fetchall()
    counts = figures(stack, ids, work)
    worker_errors = sum(DISK_FULL in line for line in worker.explaining(lines=10_000).splitlines())
    record(
        **counts,
        disk=f"tmpfs of {SMALL_DISK}",
        answers_while_full={str(k): v for k, v in sorted(statuses.items())},
        worker_disk_full_log_lines=worker_errors,
        full_s=round(freed_at - full_at, 1),
        submit_recovered_s=round(recovered_s, 2),
        integrity_check=[row[0] for row in integrity],
    )
    assert statuses == {507: SUBMITS_WHILE_FULL}, (statuses, details)
    assert all("disk is full" in detail for detail in details), details
    assert integrity == [("ok",)], integrity
    assert snapshot(api, headers, [earlier]) == before  # nothing stored before has changed
    assert counts["completed"] == len(ids), (counts, explain(stack))
    assert counts["duplicated_points"] == counts["missing_points"] == 0, counts
