"""Submitting an experiment: validate against the server's limits, store it as queued with its
audit record (and its Idempotency-Key) in one transaction, then ring the dispatcher's
doorbell. The same
key and body return what the first request created."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import audit, crud
from api.schemas import ExperimentCreate
from api.services import accounts as account_rules
from api.services import trace_quota
from api.services.context import Context
from api.services.errors import Conflict
from api.services.limits import check_limits
from db.models import Experiment, IdempotencyKey
from trainer.canonical import canonical_hash
from trainer.spec import trace_points


@dataclass(frozen=True)
class Submission:
    experiment: Experiment
    replayed: bool  # an earlier request with the same Idempotency-Key created it


def submit(
    body: ExperimentCreate,
    *,
    ctx: Context,
    idempotency_key: str | None = None,
) -> Submission:
    """Store the experiment as queued (owner: the principal) with its audit record, commit, and
    ring the dispatcher's doorbell. The same key and body return what the first request created."""
    session, principal, settings = ctx.session, ctx.principal, ctx.settings
    check_limits(body.spec, settings=settings)
    digest = _request_hash(body)
    if idempotency_key is not None:
        earlier = _replay(session, principal.name, idempotency_key, digest)
        if earlier is not None:
            return Submission(earlier, replayed=True)
    account_rules.check_queued_limit(
        principal.name, principal.max_queued, session=session, settings=settings
    )
    trace_quota.check_trace_quota(
        principal.name, adding=trace_points(body.spec), session=session, settings=settings
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
    audit.record(
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
    ctx.dispatch()
    session.refresh(experiment)
    return Submission(experiment, replayed)


def _request_hash(body: ExperimentCreate) -> str:
    return canonical_hash(body.model_dump(mode="json"))


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
