"""/audit: who submitted, cancelled, retried or deleted what, and when (admins only). The work is
api.services.accounts'."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AdminUser, SessionDep
from api.responses import INVALID
from api.schemas import AuditEventPublic, AuditPublic, ErrorPublic
from api.services import accounts

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get(
    "",
    response_model=AuditPublic,
    summary="The audit log (admins)",
    description="Events newest first: submit, cancel, retry, delete of experiments, and the "
    "account changes made with `silab-admin`. Filters combine with AND.",
    responses={
        403: {"model": ErrorPublic, "description": "not an admin"},
        **INVALID,
    },
)
def list_audit(
    _: AdminUser,
    session: SessionDep,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    experiment_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,  # the last id seen
) -> AuditPublic:
    page = accounts.audit_log(
        session=session,
        actor=actor,
        action=action,
        experiment_id=experiment_id,
        limit=limit,
        cursor=cursor,
    )
    return AuditPublic(
        items=[AuditEventPublic.model_validate(e) for e in page.items],
        next_cursor=page.next_cursor,
    )
