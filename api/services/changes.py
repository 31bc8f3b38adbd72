"""How a change to one experiment ends, the same for cancel, retry and a new priority. Its
conditional UPDATE either matched: the audit record joins the change's transaction, it commits,
and the dispatcher's doorbell rings when what waits has changed. Or it matched nothing: roll
back, read the row again and refuse with a Conflict that says why, from its real state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api import audit
from api.services.context import Context
from api.services.errors import Conflict
from db.models import Experiment


def conclude(
    experiment: Experiment,
    changed: bool,
    *,
    ctx: Context,
    action: str,
    detail: dict[str, Any],
    refusal: Callable[[Experiment], str],
    dispatch: bool = False,
) -> Experiment:
    """The experiment as it is after the change (`changed`: the UPDATE matched a row); raises
    Conflict(refusal(the row as it really is)) when it did not."""
    session = ctx.session
    if not changed:
        session.rollback()
        session.refresh(experiment)
        raise Conflict(refusal(experiment))
    audit.record(
        action,
        session=session,
        actor=ctx.principal.name,
        experiment_id=experiment.id,
        detail=detail,
    )
    session.commit()
    if dispatch:
        ctx.dispatch()
    session.refresh(experiment)
    return experiment
