"""The statuses the API reports, as the client reads them from its JSON. The client talks HTTP
only (it imports nothing of the server), so these mirror db.models.Status and SweepStatus, and
tests/client/test_status.py fails when the two sides disagree."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    """An experiment's status."""

    queued = "queued"
    running = "running"
    completed = "completed"
    diverged = "diverged"
    failed = "failed"
    cancelled = "cancelled"


class SweepStatus(enum.StrEnum):
    """A sweep's status: its experiments' statuses, and `finished` (some diverged or failed)."""

    queued = "queued"
    running = "running"
    completed = "completed"
    cancelled = "cancelled"
    finished = "finished"


TERMINAL = (Status.completed, Status.diverged, Status.failed, Status.cancelled)
ACTIVE = (Status.queued, Status.running)
# Ended with results: a diverged run is a data point (e.g. too large a step), not a service error.
WITH_RESULTS = (Status.completed, Status.diverged)
# Ended without them.
WITHOUT_RESULTS = (Status.failed, Status.cancelled)
