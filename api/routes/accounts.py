"""/me: who the key belongs to, and the limits that apply. The work is api.services.accounts'."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.schemas import MePublic
from api.services import accounts

router = APIRouter(tags=["accounts"])


@router.get("/me", response_model=MePublic, summary="The caller: account, limits and usage")
def me(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MePublic:
    usage = accounts.usage(session=session, principal=user, settings=settings)
    return MePublic(
        name=user.name,
        role=user.role,
        key_prefix=user.key_prefix,
        key_expires_at=user.key_expires_at,
        max_running=usage.max_running,
        max_queued=usage.max_queued,
        running=usage.running,
        queued=usage.queued,
        max_trace_points=usage.max_trace_points,
        trace_points=usage.trace_points,
    )
