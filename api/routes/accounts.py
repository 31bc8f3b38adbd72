"""/me: who the key belongs to, and the limits that apply."""

from __future__ import annotations

from fastapi import APIRouter

from api import accounts
from api.deps import CurrentUser, SessionDep, SettingsDep
from api.schemas import MePublic
from db.models import Status

router = APIRouter(tags=["accounts"])


@router.get("/me", response_model=MePublic, summary="The caller: account, limits and usage")
def me(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MePublic:
    return MePublic(
        name=user.name,
        role=user.role,
        key_prefix=user.key_prefix,
        key_expires_at=user.key_expires_at,
        max_running=user.max_running
        if user.max_running is not None
        else settings.default_max_running,
        max_queued=user.max_queued if user.max_queued is not None else settings.default_max_queued,
        running=accounts.count_by_status(user.name, Status.running, session=session),
        queued=accounts.count_by_status(user.name, Status.queued, session=session),
    )
