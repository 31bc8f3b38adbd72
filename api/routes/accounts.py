"""/me: who the key belongs to, and the limits that apply. The work is api.services.accounts'."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.schemas import MePublic
from api.services import accounts

router = APIRouter(tags=["accounts"])


@router.get("/me", response_model=MePublic, summary="The caller: account, limits and usage")
def me(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MePublic:
    usage = accounts.usage(session=session, principal=user, settings=settings)
    # The key's own fields from the principal; the limits that apply (its own or the lab's)
    # and what is in use from `usage`, which therefore comes second.
    return MePublic.model_validate({**asdict(user), **asdict(usage)})
