"""/experiments/{id}/position, cancel, retry and DELETE: an experiment's place in the queue and
the owner's (or an admin's) changes to it. The work is api.services.experiments'."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import ContextDep, ExperimentDep, OwnedExperimentDep
from api.responses import CONFLICT, FORBIDDEN, NOT_FOUND, OVER_LIMIT
from api.schemas import ExperimentPublic, PositionPublic
from api.services import experiments

router = APIRouter(prefix="/experiments", tags=["experiments"])


@router.get(
    "/{experiment_id}/position",
    response_model=PositionPublic,
    summary="A queued experiment's place in line and what it waits for",
    description="An estimate from the current state (db.scheduler.position): experiments of a "
    "higher priority go first; within a priority users take turns by how many slots they hold. "
    "Not queued: `position` is null. Sent but not claimed yet: `in_flight`.",
    responses=NOT_FOUND,
)
def position(experiment: ExperimentDep, ctx: ContextDep) -> PositionPublic:
    found = experiments.position(experiment, ctx=ctx)
    return PositionPublic.model_validate(found, from_attributes=True)


@router.post(
    "/{experiment_id}/cancel",
    response_model=ExperimentPublic,
    summary="Cancel an experiment (owner or admin)",
    description="Queued: cancelled at once (it never starts). Running: `cancel_requested` is set "
    "and the worker stops at its next heartbeat, keeping the trace. Finished: 409.",
    responses={**NOT_FOUND, **CONFLICT, **FORBIDDEN},
)
def cancel(experiment: OwnedExperimentDep, ctx: ContextDep) -> ExperimentPublic:
    cancelled = experiments.cancel(experiment, ctx=ctx)
    return ExperimentPublic.model_validate(cancelled)


@router.post(
    "/{experiment_id}/retry",
    response_model=ExperimentPublic,
    summary="Run a failed, cancelled or diverged experiment again (owner or admin)",
    description="Queues it again with a renewed attempt budget (it counts against the owner's "
    "queued limit: 429 over it) and rings the fair dispatcher's doorbell. Queued, running or "
    "completed experiments: 409.",
    responses={**NOT_FOUND, **CONFLICT, **FORBIDDEN, **OVER_LIMIT},
)
def retry(experiment: OwnedExperimentDep, ctx: ContextDep) -> ExperimentPublic:
    queued = experiments.retry(experiment, ctx=ctx)
    return ExperimentPublic.model_validate(queued)


@router.delete(
    "/{experiment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an experiment, its trace and its checkpoint (owner or admin)",
    description="Queued or finished experiments only; a running one is 409 (cancel it first). "
    "The audit log keeps the deletion.",
    responses={**NOT_FOUND, **CONFLICT, **FORBIDDEN},
)
def delete(experiment: OwnedExperimentDep, ctx: ContextDep) -> Response:
    experiments.delete(experiment, ctx=ctx)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
