"""Dependencies as Annotated aliases. Who is calling (an API key), whether an experiment exists and
the caller may see it, and whether they may change it, is decided here, once, never in handlers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Path, Request, status
from sqlalchemy.orm import Session

from api import accounts
from api.accounts import Principal
from api.auth import OPEN_PATHS, retry_after_header
from api.broker import Broker
from api.config import ApiSettings
from api.dispatch import Dispatcher
from api.services.accounts import may_see
from api.services.context import Context
from db.models import Experiment, Sweep

# The largest id (BIGINT): a larger one is 422, not an overflow in the driver.
MAX_ID = 2**63 - 1


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


def get_broker(request: Request) -> Broker:
    return request.app.state.broker


def get_dispatch(request: Request) -> Dispatcher:
    return request.app.state.dispatch


def authenticate(request: Request, session: SessionDep) -> Principal | None:
    """App-wide: the principal of the request's `Authorization: Bearer <key>`; 401 without a
    valid key, 429 (with Retry-After) over the key's rate limit. Open routes (api.auth.OPEN_PATHS)
    need no key: None."""
    if request.url.path in OPEN_PATHS:  # the exact path: no route with parameters is open
        return None
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send `Authorization: Bearer <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = accounts.authenticate(key, session=session) if len(key) <= 200 else None
    session.rollback()  # end the read transaction; the handler starts its own
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown, revoked or expired API key",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    wait = request.app.state.rate_limiter.take(principal.key_id)
    if wait is not None:
        rate = request.app.state.settings.rate_limit_per_s
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit: {rate:g} requests per second per key; retry in {wait:.1f} s",
            headers=retry_after_header(wait),
        )
    return principal


def get_current_user(principal: Annotated[Principal | None, Depends(authenticate)]) -> Principal:
    if principal is None:  # an open route asked for the user: a wiring mistake
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this route needs an API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def get_admin(principal: Annotated[Principal, Depends(get_current_user)]) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.name} is not an admin")
    return principal


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
BrokerDep = Annotated[Broker, Depends(get_broker)]
DispatchDep = Annotated[Dispatcher, Depends(get_dispatch)]
CurrentUser = Annotated[Principal, Depends(get_current_user)]
AdminUser = Annotated[Principal, Depends(get_admin)]


def get_context(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, dispatch: DispatchDep
) -> Context:
    """What a service call needs of the request (api.services.context), declared once here
    instead of as four parameters of every route that changes something."""
    return Context(session=session, principal=user, settings=settings, dispatch=dispatch)


ContextDep = Annotated[Context, Depends(get_context)]


Owned = TypeVar("Owned", Experiment, Sweep)


def _visible(row: Owned | None, what: str, user: Principal, settings: ApiSettings) -> Owned:
    if row is None or not may_see(user, row.owner, settings):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")
    return row


def get_experiment(
    experiment_id: Annotated[int, Path(ge=1, le=MAX_ID, description="the experiment's id")],
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> Experiment:
    """The experiment, if it exists and the caller may see it (everyone, or with
    SILAB_EXPERIMENTS_VISIBLE=own only its owner and admins: 404 for the others, so that ids do
    not leak)."""
    return _visible(
        session.get(Experiment, experiment_id), f"experiment {experiment_id}", user, settings
    )


ExperimentDep = Annotated[Experiment, Depends(get_experiment)]


def _require_owner_or_admin(user: Principal, what: str, owner: str) -> None:
    if not (user.is_admin or owner == user.name):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{what} belongs to {owner}; only its owner or an admin may change it",
        )


def get_owned_experiment(experiment: ExperimentDep, user: CurrentUser) -> Experiment:
    """The experiment, if the caller may change it (cancel, retry, delete): its owner or an
    admin; 403 for everyone else."""
    _require_owner_or_admin(user, f"experiment {experiment.id}", experiment.owner)
    return experiment


OwnedExperimentDep = Annotated[Experiment, Depends(get_owned_experiment)]


def get_sweep(
    sweep_id: Annotated[int, Path(ge=1, le=MAX_ID, description="the sweep's id")],
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> Sweep:
    """The sweep, if it exists and the caller may see it (the same rule as experiments)."""
    return _visible(session.get(Sweep, sweep_id), f"sweep {sweep_id}", user, settings)


SweepDep = Annotated[Sweep, Depends(get_sweep)]


def get_owned_sweep(sweep: SweepDep, user: CurrentUser) -> Sweep:
    """The sweep, if the caller may change it (cancel): its owner or an admin; 403 otherwise."""
    _require_owner_or_admin(user, f"sweep {sweep.id}", sweep.owner)
    return sweep


OwnedSweepDep = Annotated[Sweep, Depends(get_owned_sweep)]
