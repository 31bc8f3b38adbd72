"""A queued experiment's place in line."""

from __future__ import annotations

from pydantic import BaseModel, Field

from db.models import Status


class PositionPublic(BaseModel):
    """A queued experiment's place in line: an estimate from the current state, assuming
    nothing else is submitted and users keep taking turns."""

    experiment_id: int
    status: Status
    in_flight: bool = Field(description="sent to the broker; waits for a worker to claim it")
    position: int | None = Field(description="1 = sent next; null when not waiting")
    ahead_higher_priority: int
    ahead_same_priority: int = Field(
        description="other users' turns and the owner's own older ones"
    )
    slots: int = Field(description="worker slots in the pool (SILAB_WORKER_SLOTS)")
    busy_slots: int
    owner_busy: int = Field(description="the owner's running and sent experiments")
    owner_max_running: int | None
    waiting_for: list[str] = Field(
        description='any of "worker slots" (all busy), "running '
        'limit" (the owner is at max_running), "higher '
        'priority", "turn" (others at this priority go '
        'first), "a worker to claim it"'
    )
