"""What a round sends: groups cut from the front of the fair order, one per free slot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from db.config import GroupSettings
from db.scheduler.fair_order import FairOrder
from db.types import now_utc as _now


@dataclass(frozen=True)
class GroupLimits:
    """How large a group may grow (db.config.GroupSettings gives the lab's values)."""

    max_experiments: int = 1
    memory_gb: float = float("inf")

    @staticmethod
    def from_settings() -> GroupLimits:
        settings = GroupSettings()
        return GroupLimits(settings.max_experiments, settings.memory_gb)


def plan_groups(
    *,
    session: Session,
    slots: int,
    default_max_running: int | None,
    resend_after_s: float,
    limit: int | None = None,
    now: datetime | None = None,
    groups: GroupLimits = GroupLimits(),
) -> list[list[int]]:
    """The groups to send now, one per free slot (at most `limit`), each a prefix of what is
    left of the fair order (read-only)."""
    now = _now(now)
    order = FairOrder.load(
        session, slots, default_max_running, resend_after_s, now, groups.max_experiments
    )
    if order is None:
        return []
    free = order.pool.free if limit is None else min(order.pool.free, limit)
    out: list[list[int]] = []
    while len(out) < free:
        head = order.take()
        if head is None:
            break
        group, memory = [head.id], head.memory_gb
        while len(group) < groups.max_experiments and head.shape_key is not None:
            following = order.peek()
            if following is None or following.shape_key != head.shape_key:
                break
            if memory + following.memory_gb > groups.memory_gb:
                break
            order.take()
            group.append(following.id)
            memory += following.memory_gb
        out.append(group)
    return out
