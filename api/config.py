"""API settings. The only place api/ reads the environment (the database URL is db's own
`DbSettings`; what the worker reads too is db.config.LabSettings', which ApiSettings extends)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from db.config import LabSettings


class ApiSettings(LabSettings):
    """The API's SILAB_* variables; those the worker reads too (the broker, the pool) are
    db.config.LabSettings'."""

    # A submission never waits longer than this for the broker: when it is down, the experiment
    # is stored anyway and the dispatcher sends it later.
    broker_timeout_s: float = Field(2.0, gt=0.0)
    # Retry-After (seconds) of a 503 when the database cannot be reached.
    unavailable_retry_after_s: int = Field(5, ge=1)
    # Requests with a larger body are refused with 413 before they are parsed.
    max_request_bytes: int = Field(2 * 1024 * 1024, gt=0)
    # POST /experiments:batch: the most items in one request, and its larger body limit (413).
    max_batch: int = Field(10_000, ge=1)
    max_batch_bytes: int = Field(64 * 1024 * 1024, gt=0)
    default_page_size: int = Field(50, ge=1, le=1000)
    max_page_size: int = Field(500, ge=1, le=10_000)
    # /metrics: durations are summarized over experiments created in this window.
    metrics_window_s: float = Field(24 * 3600.0, gt=0.0)

    # Accounts and the shared pool (docs/design.md, "Accounts" and "Scheduling").
    # The first start on a database without accounts creates `admin` and <data_dir>/admin.key.
    bootstrap_admin: bool = True
    # "lab": everyone reads every experiment; "own": members see only their own (admins all).
    experiments_visible: Literal["lab", "own"] = "lab"
    # Lab default of a user's queued experiments (an admin sets a user's own with `silab-admin
    # set-limits`; the running one is LabSettings'); None: no limit.
    default_max_queued: int | None = Field(1000, gt=0)
    # The largest spec memory estimate accepted (trainer.spec facts()["memory_estimate_bytes"]).
    max_memory_gb: float = Field(64.0, gt=0.0)
    # Most trace points one experiment may store (seeds × evaluation positions); 422 above.
    max_trace_points: int = Field(5_000_000, ge=1)
    # Most trace points one user's experiments may hold together: stored points of finished
    # ones plus the estimate of queued and running ones; 429 above. None: no quota.
    max_user_trace_points: int | None = Field(200_000_000, gt=0)
    # Per-key token bucket: requests per second, and the burst allowed; rate 0 turns it off.
    rate_limit_per_s: float = Field(20.0, ge=0.0)
    rate_limit_burst: int = Field(200, ge=1)
