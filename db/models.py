"""Tables: experiment, experiment_tag, trace_chunk, checkpoint, sweep, and the accounts'.

The database is the truth for an experiment's state; the broker only rings the bell. Summary
results are real columns (not only JSON) so that lists can be filtered and sorted on them.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base
from db.types import UtcDateTime, str_enum, utcnow

# BIGINT primary keys on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY is the
# auto-incrementing rowid).
Id = BigInteger().with_variant(Integer(), "sqlite")


class Status(enum.StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    diverged = "diverged"  # ran to the end of what it could: a non-finite value stopped it
    failed = "failed"  # an error, or attempts exhausted; `error` says why
    cancelled = "cancelled"


TERMINAL = (Status.completed, Status.diverged, Status.failed, Status.cancelled)
# Stopped normally, with a result to read (a diverged run's is up to its non-finite value).
FINISHED_WITH_RESULT = (Status.completed, Status.diverged)


class SweepStatus(enum.StrEnum):
    """A sweep's status, derived from its experiments' (api.sweeps.status_of), never stored."""

    queued = Status.queued.value  # some experiment is queued, none running
    running = Status.running.value  # some experiment is running
    completed = Status.completed.value  # every experiment completed
    cancelled = Status.cancelled.value  # the sweep was cancelled
    finished = "finished"  # all ended, some diverged or failed


class Algorithm(enum.StrEnum):
    """The Phase I algorithms, as experiment.algorithm stores them. db imports nothing of ours,
    so this mirrors trainer.spec.Algorithm (which describes each); tests/db/test_status_checks.py
    fails when the two disagree."""

    online = "online"
    reuse = "reuse"
    multipass = "multipass"
    gd = "gd"


# Sort keys of GET /experiments that are never NULL: one (key, id) index serves both directions.
SORTED_NOT_NULL = ("created_at", "d")
# Nullable sort keys sort NULLS LAST both ways: ascending is the plain index's forward order, but
# descending NULLS LAST is not its backward order, so those get a second, descending index.
SORTED_NULLABLE = (
    "test_mse",
    "final_median_abs_m",
    "weak_recovery_samples",
    "held_recovery_samples",
    "held_recovery_fraction",
    "wall_time_s",
)


def list_sort_indexes() -> list[Index]:
    from sqlalchemy import column

    out = [Index(f"ix_experiment_{key}_id", key, "id") for key in SORTED_NOT_NULL]
    for key in SORTED_NULLABLE:
        out.append(Index(f"ix_experiment_{key}_id", key, "id"))
        # PostgreSQL only: SQLite's CREATE INDEX takes no NULLS LAST (it sorts those lists in a
        # temporary b-tree, fine at the embedded default's sizes).
        descending = Index(
            f"ix_experiment_{key}_desc_id", column(key).desc().nulls_last(), column("id").desc()
        )
        out.append(descending.ddl_if(dialect="postgresql"))
    return out


class ExperimentSummary:
    """The summary columns of `experiment`: what `db.queue.finish` fills from a run's result
    (db.queue.summary_from_result) and a retry clears. A mixin so that the list of them,
    db.queue.SUMMARY_COLUMNS, is read from here rather than written out again."""

    # Medians over seeds (the full per-seed result is in `result`).
    final_mean_abs_m: Mapped[float | None] = mapped_column(Float)
    final_median_abs_m: Mapped[float | None] = mapped_column(Float)
    final_max_abs_m: Mapped[float | None] = mapped_column(Float)
    test_mse: Mapped[float | None] = mapped_column(Float)
    weak_recovery_samples: Mapped[float | None] = mapped_column(Float)
    # Fraction of seeds that reached weak recovery.
    weak_recovery_fraction: Mapped[float | None] = mapped_column(Float)
    # Held recovery (trainer/recovery.py): median over all seeds, never-recovered seeds counted
    # as censored at the budget (None when the median itself is censored), and the fraction held.
    held_recovery_samples: Mapped[float | None] = mapped_column(Float)
    held_recovery_fraction: Mapped[float | None] = mapped_column(Float)
    wall_time_s: Mapped[float | None] = mapped_column(Float)
    samples_per_second: Mapped[float | None] = mapped_column(Float)
    device: Mapped[str | None] = mapped_column(String(64))
    torch_version: Mapped[str | None] = mapped_column(String(64))


SUMMARY_COLUMNS: tuple[str, ...] = tuple(ExperimentSummary.__annotations__)


class Experiment(ExperimentSummary, Base):
    __tablename__ = "experiment"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    owner: Mapped[str] = mapped_column(String(100), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[Status] = mapped_column(str_enum(Status, check="status"), default=Status.queued)

    # The spec as validated by trainer.spec (defaults filled in), and its sha256.
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(64), index=True)
    # Denormalized from the spec for filtering: a target label ("h3", "h3+h4"), the Phase I
    # algorithm, d, N, and the number of seeds.
    target: Mapped[str] = mapped_column(String(100), index=True)
    algorithm: Mapped[Algorithm] = mapped_column(str_enum(Algorithm), index=True)
    d: Mapped[int] = mapped_column(Integer, index=True)
    width: Mapped[int] = mapped_column(Integer)
    seeds: Mapped[int] = mapped_column(Integer)
    # Fused execution (docs/design.md, "Groups"): trainer.lanes.shape_key of the spec, computed
    # by the API at submit (experiments with equal keys may share one program; NULL: never
    # grouped), and the spec's memory estimate, which SILAB_GROUP_MEMORY_GB caps per group.
    shape_key: Mapped[str | None] = mapped_column(String(64), index=True)
    memory_gb: Mapped[float | None] = mapped_column(Float)
    # The trace points the run will store (trainer.spec.trace_points), computed at submit: what
    # a queued or running experiment counts against its owner's trace quota (finished ones count
    # their stored points). NULL for rows submitted before the quota: they count stored points.
    trace_points: Mapped[int | None] = mapped_column(BigInteger)
    # What owner_usage.trace_points counts for this row now (db.usage): the estimate while
    # queued or running, the stored points once ended. Changed only with the counter.
    charged_points: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The first member's id while dispatched or running as a group (a group holds one slot).
    group_head: Mapped[int | None] = mapped_column(Id)

    # The queue. `attempt` counts claims; a claim is a conditional UPDATE on (id, status, attempt).
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Null until the broker accepted the message; the dispatcher sends what is queued and null.
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    samples_done: Mapped[int] = mapped_column(BigInteger, default=0)
    samples_total: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    # Set for experiments a sweep expanded: the sweep and the cell (canonical JSON of the axis
    # values). Experiments of one sweep with the same cell differ only in their seeds.
    sweep_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("sweep.id", ondelete="SET NULL"), index=True
    )
    cell_key: Mapped[str | None] = mapped_column(Text)

    tags: Mapped[list[ExperimentTag]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        # The dispatcher's and the reaper's scans.
        Index("ix_experiment_status_priority_id", "status", "priority", "id"),
        Index("ix_experiment_status_lease", "status", "lease_expires_at"),
        # The fair dispatcher's and the quotas' counts per owner.
        Index("ix_experiment_status_owner", "status", "owner"),
        # The fair dispatcher's "handed a slot least recently": max per owner from the index end.
        Index("ix_experiment_owner_started_at", "owner", "started_at"),
        Index("ix_experiment_owner_dispatched_at", "owner", "dispatched_at"),
        # The list's sorts (api.schemas.SORT_KEYS), each with id as the tie-break, so that a
        # page is an index range however the list is filtered; see list_sort_indexes.
        *list_sort_indexes(),
    )

    @property
    def tag_names(self) -> list[str]:
        return sorted(tag.tag for tag in self.tags)


class ExperimentTag(Base):
    __tablename__ = "experiment_tag"

    experiment_id: Mapped[int] = mapped_column(
        Id, ForeignKey("experiment.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)

    experiment: Mapped[Experiment] = relationship(back_populates="tags")


class TraceChunk(Base):
    """Up to db.traces.CHUNK_POINTS consecutive evaluation points of one seed in one phase, as one
    compressed columnar block (db.tracecodec). `chunk` is the points' ordinal in that series'
    evaluation schedule divided by CHUNK_POINTS; the schedule is a pure function of the spec, so
    every attempt gives a chunk the same key and the same points, and a rewrite is idempotent.

    One row per 2048 points instead of one per point: the per-row overhead (tuple header, keys,
    index entries) is paid once per chunk, and a reader decodes whole columns with numpy."""

    __tablename__ = "trace_chunk"

    experiment_id: Mapped[int] = mapped_column(
        Id, ForeignKey("experiment.id", ondelete="CASCADE"), primary_key=True
    )
    seed: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    phase: Mapped[str] = mapped_column(String(16), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The attempt that wrote this version of the chunk.
    attempt: Mapped[int] = mapped_column(Integer)
    first_step: Mapped[int] = mapped_column(BigInteger)
    last_step: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class OwnerUsage(Base):
    """What one owner's experiments hold, as counters that db.usage keeps in the transactions
    that change them, so that the submit-time limits read one row however many experiments the
    owner has: `trace_points`, the sum of their `charged_points`, and `queued`, how many are
    queued. Keyed by `experiment.owner` (an owner needs no account row)."""

    __tablename__ = "owner_usage"

    owner: Mapped[str] = mapped_column(String(100), primary_key=True)
    trace_points: Mapped[int] = mapped_column(BigInteger, default=0)
    queued: Mapped[int] = mapped_column(BigInteger, default=0)


class Checkpoint(Base):
    """The latest resumable state of an experiment (one row; each save replaces it)."""

    __tablename__ = "checkpoint"

    experiment_id: Mapped[int] = mapped_column(
        Id, ForeignKey("experiment.id", ondelete="CASCADE"), primary_key=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    samples: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Sweep(Base):
    """A grid of experiments expanded from a base spec and axes (api/sweeps.py). The definition is
    kept as submitted; `sweep_hash` (sha256 of its canonical JSON) makes a resubmission by the same
    owner find this sweep instead of creating a new one. Progress is counted from the experiments.
    """

    __tablename__ = "sweep"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    owner: Mapped[str] = mapped_column(String(100), index=True)
    sweep_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The axis paths in order ("d", "phase1.n"): the keys of every cell.
    axes: Mapped[list[str]] = mapped_column(JSON)
    cells: Mapped[int] = mapped_column(Integer)
    experiments_total: Mapped[int] = mapped_column(Integer)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("owner", "sweep_hash"),)


# ---------------------------------------------------------------------------------------------
# Accounts: users, API keys, the audit log, idempotency keys


class Role(enum.StrEnum):
    admin = "admin"  # everything, on everyone's experiments; reads the audit log
    member = "member"  # submits; cancels, retries and deletes only their own experiments


class Account(Base):
    """A user of the lab. `name` is what `experiment.owner` holds. The limits are NULL for the lab
    default (the services' settings)."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[Role] = mapped_column(str_enum(Role), default=Role.member)
    max_running: Mapped[int | None] = mapped_column(Integer)
    max_queued: Mapped[int | None] = mapped_column(Integer)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiKey(Base):
    """An API key: only its sha256 is stored (the key itself is shown once, at creation). The
    prefix (the first characters of the key) names it in lists and in `revoke-key`."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(
        Id, ForeignKey("account.id", ondelete="CASCADE"), index=True
    )
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(24))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    account: Mapped[Account] = relationship(lazy="joined")


class AuditEvent(Base):
    """Who did what to which experiment, when. No foreign key: a deleted experiment's events
    stay."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    experiment_id: Mapped[int | None] = mapped_column(Id, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IdempotencyKey(Base):
    """An `Idempotency-Key` of a submission: the same key and body return the same experiment."""

    __tablename__ = "idempotency_key"

    owner: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    experiment_id: Mapped[int] = mapped_column(Id, ForeignKey("experiment.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
