"""The caller's account and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from db.models import Role


class MePublic(BaseModel):
    """Who the key belongs to, the limits that apply and how much of them is in use."""

    name: str
    role: Role
    key_prefix: str
    key_expires_at: datetime | None
    max_running: int | None = Field(description="the user's own or the lab default; null: none")
    max_queued: int | None = Field(description="the user's own or the lab default; null: none")
    running: int
    queued: int
    max_trace_points: int | None = Field(
        description="the trace quota, SILAB_MAX_USER_TRACE_POINTS; null: none"
    )
    trace_points: int = Field(
        description="trace points held: stored by finished experiments, estimated for queued "
        "and running ones (what the quota counts)"
    )


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor: str
    action: str
    experiment_id: int | None
    detail: dict[str, Any]


class AuditPublic(BaseModel):
    """Newest first; pass `next_cursor` as `cursor` for older events (null: last page)."""

    items: list[AuditEventPublic]
    next_cursor: str | None
