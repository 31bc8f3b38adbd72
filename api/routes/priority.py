"""POST /experiments/{id}/priority and /sweeps/{id}/priority: the owner (or an admin) reorders
what still waits. The work is api.services.priorities'."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ContextDep, OwnedExperimentDep, OwnedSweepDep
from api.responses import CONFLICT, FORBIDDEN, INVALID, NOT_FOUND, SWEEP_NOT_FOUND
from api.schemas import ExperimentPublic, PriorityChange
from api.services import priorities

router = APIRouter(tags=["experiments"])


@router.post(
    "/experiments/{experiment_id}/priority",
    response_model=ExperimentPublic,
    summary="Change a queued experiment's priority (owner or admin)",
    description="Higher runs first; within a priority users take turns. Only a queued "
    "experiment's priority changes (409 otherwise: a running one keeps its slot).",
    responses={**NOT_FOUND, **CONFLICT, **FORBIDDEN, **INVALID},
)
def set_priority(
    experiment: OwnedExperimentDep, body: PriorityChange, ctx: ContextDep
) -> ExperimentPublic:
    changed = priorities.set_priority(experiment, int(body.priority), ctx=ctx)
    return ExperimentPublic.model_validate(changed)


@router.post(
    "/sweeps/{sweep_id}/priority",
    summary="Change the priority of a sweep's queued experiments (owner or admin)",
    description="Every experiment of the sweep that is still queued gets the priority; running "
    "and finished ones keep theirs. Returns how many changed.",
    responses={**SWEEP_NOT_FOUND, **FORBIDDEN, **INVALID},
    tags=["sweeps"],
)
def set_sweep_priority(
    sweep: OwnedSweepDep, body: PriorityChange, ctx: ContextDep
) -> dict[str, Any]:
    priority = int(body.priority)
    changed = priorities.set_sweep_priority(sweep, priority, ctx=ctx)
    return {"sweep_id": sweep.id, "priority": priority, "changed": changed}
