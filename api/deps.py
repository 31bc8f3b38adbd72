"""Dependencies as Annotated aliases. Whether an experiment exists (and, once there is auth, whether
the caller may see it) is decided here, once, never in handlers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request, status
from sqlalchemy.orm import Session

from api.broker import Broker
from api.config import ApiSettings
from db.models import Experiment


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


def get_broker(request: Request) -> Broker:
    return request.app.state.broker


def get_current_user(
    x_silab_user: Annotated[
        str,
        Header(min_length=1, max_length=100, pattern=r"^[\w.@+-]+$",
               description="who submits; NOT authenticated (API keys come later)"),
    ] = "local",
) -> str:
    # TODO(auth): this trusts a header. Replace with an API-key lookup; this is the one place.
    return x_silab_user


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
BrokerDep = Annotated[Broker, Depends(get_broker)]
CurrentUser = Annotated[str, Depends(get_current_user)]


def get_experiment(
    experiment_id: Annotated[int, Path(ge=1, description="the experiment's id")],
    session: SessionDep,
) -> Experiment:
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"experiment {experiment_id} not found")
    return experiment


ExperimentDep = Annotated[Experiment, Depends(get_experiment)]
