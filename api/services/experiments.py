"""Experiments: submit (idempotent with a key), validate, list, position, cancel, retry, delete.

Each change is committed here together with its audit record (one transaction: both or neither),
then the doorbell rings: the maintenance worker runs the fair dispatcher's round. The caller has already checked
that the experiment exists, that the principal may see it and, for a change, own it (api.deps).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import accounts, crud
from api.accounts import Principal
from api.config import ApiSettings
from api.crud import Filters
from api.schemas import ExperimentCreate
from api.services import accounts as account_rules
from api.services.errors import BadRequest, Conflict, Invalid, NotFound
from api.services.pages import Page, page_size
from db import queue, scheduler
from db.models import Experiment, IdempotencyKey, Status
from trainer.spec import ExperimentSpec

Dispatch = Callable[[], object]


def check_memory(spec: ExperimentSpec, *, settings: ApiSettings) -> None:
    """Invalid when the spec's memory estimate is above the server's limit (a spec may lower its
    own `max_memory_gb`, never raise the server's)."""
    estimate = spec.facts()["memory_estimate_bytes"]
    if estimate > settings.max_memory_gb * 2**30:
        raise Invalid(
            ("body", "spec", "max_memory_gb"),
            f"memory estimate {estimate / 2**30:.1f} GiB (memory_estimate_bytes = {estimate}) "
            f"exceeds this server's limit of {settings.max_memory_gb:g} GiB "
            "(SILAB_MAX_MEMORY_GB); spec.max_memory_gb cannot raise it",
        )


@dataclass(frozen=True)
class Submission:
    experiment: Experiment
    replayed: bool  # an earlier request with the same Idempotency-Key created it


def submit(
    body: ExperimentCreate,
    *,
    session: Session,
    principal: Principal,
    settings: ApiSettings,
    dispatch: Dispatch,
    idempotency_key: str | None = None,
) -> Submission:
    """Store the experiment as queued (owner: the principal) with its audit record, commit, and
    ring the dispatcher's doorbell. The same key and body return what the first request created."""
    check_memory(body.spec, settings=settings)
    digest = _request_hash(body)
    if idempotency_key is not None:
        earlier = _replay(session, principal.name, idempotency_key, digest)
        if earlier is not None:
            return Submission(earlier, replayed=True)
    account_rules.check_queued_limit(
        principal.name, principal.max_queued, session=session, settings=settings
    )
    experiment = crud.create_experiment(
        session=session,
        spec=body.spec,
        owner=principal.name,
        name=body.name,
        tags=body.tags,
        priority=int(body.priority),  # the validator turned a level name into its number
        max_attempts=body.max_attempts,
    )
    accounts.audit(
        "submit",
        session=session,
        actor=principal.name,
        experiment_id=experiment.id,
        detail={"priority": experiment.priority, "name": experiment.name},
    )
    if idempotency_key is not None:
        session.add(
            IdempotencyKey(
                owner=principal.name,
                key=idempotency_key,
                request_hash=digest,
                experiment_id=experiment.id,
            )
        )
    replayed = False
    try:
        session.commit()
    except IntegrityError:  # a concurrent request with the same key won
        session.rollback()
        earlier = _replay(session, principal.name, idempotency_key or "", digest)
        if earlier is None:
            raise
        experiment, replayed = earlier, True
    dispatch()
    session.refresh(experiment)
    return Submission(experiment, replayed)


def _request_hash(body: ExperimentCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(session: Session, owner: str, key: str, request_hash: str) -> Experiment | None:
    """The experiment an earlier submission with this key created; Conflict when that
    submission had a different body."""
    stored = session.get(IdempotencyKey, (owner, key))
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise Conflict(
            f"Idempotency-Key {key!r} was used for a different request (experiment "
            f"{stored.experiment_id}); use a new key for a new submission"
        )
    return session.get(Experiment, stored.experiment_id)


def list_experiments(
    filters: Filters,
    *,
    session: Session,
    principal: Principal,
    settings: ApiSettings,
    sort: str = "-id",
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[Experiment]:
    """One keyset page of the experiments the principal may see that match `filters`."""
    try:
        order = crud.Sort.parse(sort)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    visible, owner = account_rules.visible_owner(
        filters.owner, principal=principal, settings=settings
    )
    if not visible:
        return Page([], None)
    filters.owner = owner
    try:
        rows, next_cursor = crud.list_experiments(
            session=session,
            filters=filters,
            sort=order,
            limit=page_size(limit, settings),
            cursor=cursor,
        )
    except crud.BadCursor as error:
        raise BadRequest(str(error)) from None
    return Page(rows, next_cursor)


def position(
    experiment: Experiment, *, session: Session, settings: ApiSettings
) -> scheduler.Position:
    found = scheduler.position(
        experiment.id,
        session=session,
        slots=settings.worker_slots,
        default_max_running=settings.default_max_running,
        resend_after_s=settings.resend_after_s,
    )
    if found is None:  # deleted meanwhile
        raise NotFound(f"experiment {experiment.id} not found")
    return found


def cancel(experiment: Experiment, *, session: Session, principal: Principal) -> Experiment:
    """Queued: cancelled now; running: asked to stop at its next heartbeat. Conflict when the
    conditional UPDATE matched nothing (it has finished)."""
    before = experiment.status
    if not queue.cancel(experiment.id, session=session):
        session.rollback()
        session.refresh(experiment)
        raise Conflict(f"experiment {experiment.id} is already {experiment.status}")
    accounts.audit(
        "cancel",
        session=session,
        actor=principal.name,
        experiment_id=experiment.id,
        detail={"owner": experiment.owner, "status": before},
    )
    session.commit()
    session.refresh(experiment)
    return experiment


def retry(
    experiment: Experiment,
    *,
    session: Session,
    principal: Principal,
    settings: ApiSettings,
    dispatch: Dispatch,
) -> Experiment:
    """Queue a failed, cancelled or diverged experiment again; it counts against its owner's
    queued limit. Conflict in any other status."""
    if experiment.status in [s.value for s in queue.RETRYABLE]:
        account_rules.check_owner_queued_limit(experiment.owner, session=session, settings=settings)
    if not queue.retry(experiment.id, session=session):
        session.rollback()
        session.refresh(experiment)
        raise Conflict(
            f"experiment {experiment.id} is {experiment.status}; only failed, "
            "cancelled or diverged experiments can be retried"
        )
    accounts.audit(
        "retry",
        session=session,
        actor=principal.name,
        experiment_id=experiment.id,
        detail={"owner": experiment.owner},
    )
    session.commit()
    dispatch()
    session.refresh(experiment)
    return experiment


def delete(experiment: Experiment, *, session: Session, principal: Principal) -> None:
    """Delete a queued or finished experiment with its tags, trace, checkpoint and idempotency
    keys (ON DELETE CASCADE); Conflict while it runs. The audit log keeps the deletion."""
    experiment_id, owner, was = experiment.id, experiment.owner, experiment.status
    session.expunge(experiment)
    if not _delete_unless_running(experiment_id, session=session):
        session.rollback()
        raise Conflict(f"experiment {experiment_id} is running; cancel it first")
    accounts.audit(
        "delete",
        session=session,
        actor=principal.name,
        experiment_id=experiment_id,
        detail={"owner": owner, "status": was},
    )
    session.commit()


def _delete_unless_running(experiment_id: int, *, session: Session) -> bool:
    """Conditional, like every state change: a claim that lands first makes it match nothing."""
    result: Any = session.execute(
        sql_delete(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status != Status.running.value)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)
