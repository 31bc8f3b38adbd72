"""The request as a service sees it: the session, who is calling, the server's settings and the
dispatcher's doorbell, as one value. Routes get it from one dependency (api.deps.ContextDep);
tests build it directly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from api.accounts import Principal
from api.config import ApiSettings

# Rings the fair dispatcher's doorbell after a commit that grew the queue (api.dispatch).
Dispatch = Callable[[], object]


@dataclass(frozen=True)
class Context:
    """What a service call needs of its request. The service commits its change together with
    the audit record, then rings `dispatch` when the queue grew."""

    session: Session
    principal: Principal
    settings: ApiSettings
    dispatch: Dispatch
