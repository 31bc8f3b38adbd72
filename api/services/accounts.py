"""Accounts: whom a caller may see, the limits that apply to a user, their usage, and the audit
log. Account administration (keys, roles) is silab-admin's, in api.accounts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from api import accounts, audit
from api.accounts import Principal
from api.config import ApiSettings
from api.services import trace_quota
from api.services.errors import BadRequest, LimitExceeded
from api.services.pages import Page
from db import locks
from db import usage as owner_usage
from db.models import AuditEvent, Status


def may_see(principal: Principal, owner: str, settings: ApiSettings) -> bool:
    """Everyone sees everything (SILAB_EXPERIMENTS_VISIBLE=lab), else owners and admins only."""
    return settings.experiments_visible == "lab" or principal.is_admin or owner == principal.name


def visible_owner(
    owner: str | None, *, principal: Principal, settings: ApiSettings
) -> tuple[bool, str | None]:
    """The owner filter a list query may use: (False, _) when the caller may see none of the
    asked-for owner's rows; with own-only visibility and no owner asked for, their own."""
    if may_see(principal, owner or "", settings):
        return True, owner
    return owner is None, principal.name


def check_queued_limit(
    owner: str,
    own_limit: int | None,
    *,
    session: Session,
    settings: ApiSettings,
    adding: int = 1,
) -> None:
    """LimitExceeded when `adding` more queued experiments would put `owner` over their limit
    (their account's `own_limit`, else the lab default; None: no limit).

    Exact under concurrent submits: the owner's account is locked first (db.locks) and stays
    locked until the caller commits the experiments it adds or rolls back, so a second submit of
    the same owner counts only after the first has committed. Other owners do not wait. The
    count is the owner's counter row (db.usage), however long the queue."""
    limit = own_limit if own_limit is not None else settings.default_max_queued
    if limit is None:
        return
    locks.lock_account(owner, session=session)
    queued = owner_usage.queued(owner, session=session)
    if queued + adding > limit:
        raise LimitExceeded(
            f"max_queued limit: {owner} may have at most {limit} queued experiments and has "
            f"{queued}; this would be {queued + adding - limit} over. Wait for some to start, "
            "or cancel some."
        )


def check_owner_queued_limit(
    owner: str, *, session: Session, settings: ApiSettings, adding: int = 1
) -> None:
    """check_queued_limit for a user named by their account (a retry counts against the owner's
    limit, not the caller's: an admin may retry someone else's run)."""
    account = accounts.find_account(owner, session=session)
    own = account.max_queued if account is not None else None
    check_queued_limit(owner, own, session=session, settings=settings, adding=adding)


@dataclass(frozen=True)
class Usage:
    """The limits that apply to a user (theirs, else the lab's) and how much of them is used."""

    max_running: int | None
    max_queued: int | None
    running: int
    queued: int
    max_trace_points: int | None
    trace_points: int


def usage(*, session: Session, principal: Principal, settings: ApiSettings) -> Usage:
    own_running, own_queued = principal.max_running, principal.max_queued
    return Usage(
        max_running=own_running if own_running is not None else settings.default_max_running,
        max_queued=own_queued if own_queued is not None else settings.default_max_queued,
        running=accounts.count_by_status(principal.name, Status.running, session=session),
        queued=owner_usage.queued(principal.name, session=session),
        max_trace_points=settings.max_user_trace_points,
        trace_points=trace_quota.usage(principal.name, session=session),
    )


def audit_log(
    *,
    session: Session,
    actor: str | None,
    action: str | None,
    experiment_id: int | None,
    limit: int,
    cursor: str | None,
) -> Page[AuditEvent]:
    """Events newest first, a page at a time; the cursor is the last id seen."""
    before = None
    if cursor is not None:
        if not cursor.isdigit() or len(cursor) > 18:
            raise BadRequest("the cursor is not one this API issued")
        before = int(cursor)
    events, next_id = audit.events(
        session=session,
        actor=actor,
        action=action,
        experiment_id=experiment_id,
        limit=limit,
        before_id=before,
    )
    return Page(events, str(next_id) if next_id is not None else None)
