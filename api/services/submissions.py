"""Submitting an experiment: validate against the server's limits, store it as queued with its
audit record (and its Idempotency-Key) in one transaction, then ring the dispatcher's
doorbell. The same
key and body return what the first request created."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import audit, crud
from api.accounts import Principal
from api.config import ApiSettings
from api.schemas import ExperimentCreate
from api.services import accounts as account_rules
from api.services import trace_quota
from api.services.errors import Conflict, Invalid
from db.models import Experiment, IdempotencyKey
from trainer.canonical import canonical_hash
from trainer.spec import ExperimentSpec, Resolved, memory_estimate_bytes, trace_points

# Rings the fair dispatcher's doorbell after a commit that grew the queue (api.dispatch).
Dispatch = Callable[[], object]


def check_limits(
    spec: ExperimentSpec, *, settings: ApiSettings, resolved: Resolved | None = None
) -> None:
    """Invalid when the spec's memory estimate is above the server's limit (a spec may lower its
    own `max_memory_gb`, never raise the server's), when it would store more trace points
    than SILAB_MAX_TRACE_POINTS (`eval.every: 1` wrote 5·10³ rows/s, ~115 GiB a day), or when
    it asks for a wall-clock limit above SILAB_MAX_WALL_S."""
    if spec.max_wall_s is not None and spec.max_wall_s > settings.max_wall_s:
        raise Invalid(
            ("body", "spec", "max_wall_s"),
            f"= {spec.max_wall_s:g} s is above this server's wall-clock limit of "
            f"{settings.max_wall_s:g} s per run (SILAB_MAX_WALL_S); ask for at most that, or "
            "leave it out to get it",
        )
    # The two facts it needs, not spec.facts(): its Hermite exponents cost ~10 ms a spec.
    resolved = resolved or spec.resolved()
    points = trace_points(spec, resolved)
    if points > settings.max_trace_points:
        raise Invalid(
            ("body", "spec", "eval", "every" if spec.eval.every is not None else "points"),
            f"the run would store {points} trace points (seeds × evaluation "
            f"positions), more than this server's limit of {settings.max_trace_points} "
            "(SILAB_MAX_TRACE_POINTS); evaluate less often or with fewer seeds",
        )
    estimate = memory_estimate_bytes(spec, resolved)
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
    dispatch()
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
