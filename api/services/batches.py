"""Bulk submit (POST /experiments:batch): thousands of specs in one request, checked as a whole
against the server's limits (one 422 lists every broken item, by index and field), counted
against the owner's queued limit and trace quota together, and stored with their tags and audit
records in one transaction of multi-row INSERTs; then one ring of the dispatcher's doorbell."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from api import audit, crud
from api.config import ApiSettings
from api.schemas import ExperimentBatchCreate
from api.services import accounts as account_rules
from api.services import batch_keys, trace_quota
from api.services.context import Context
from api.services.errors import Invalid
from api.services.limits import check_limits
from trainer.canonical import canonical_hash
from trainer.spec import ExperimentSpec


@dataclass
class Batch:
    ids: list[int]
    replayed: bool  # an earlier request with the same Idempotency-Key stored them


# A 422 lists at most this many broken items (the first ones); the count says how many in all.
MAX_ISSUES = 100


def submit_batch(
    body: ExperimentBatchCreate, *, ctx: Context, idempotency_key: str | None = None
) -> Batch:
    """Store every item as a queued experiment of the principal, or none: Invalid naming each
    broken item ("body", "items", i, ...), LimitExceeded when they do not all fit the queued
    limit or the trace quota. The new ids in the order of the items; with `idempotency_key`, a
    batch sent again (same key, same body) gets the first one's ids back and stores nothing."""
    session, principal, settings = ctx.session, ctx.principal, ctx.settings
    items = body.items
    digest = canonical_hash(body.model_dump(mode="json")) if idempotency_key else ""
    if idempotency_key:
        earlier = batch_keys.replay(session, principal.name, idempotency_key, digest, len(items))
        if earlier is not None:
            return Batch(earlier, replayed=True)
    if len(items) > settings.max_batch:
        raise Invalid(
            ("body", "items"),
            f"{len(items)} items; this server takes at most {settings.max_batch} in one batch "
            "(SILAB_MAX_BATCH): split it",
        )
    rows, issues = [], []
    # Items with equal specs share one validated spec object (api.schemas.ExperimentBatchCreate
    # validates each distinct spec once), so its columns and limits are worked out once too.
    per_spec: dict[int, dict[str, Any] | Invalid] = {}
    for i, item in enumerate(items):
        derived = per_spec.get(id(item.spec))
        if derived is None:
            derived = per_spec[id(item.spec)] = _spec_columns(item.spec, settings)
        if isinstance(derived, Invalid):
            issues.extend(derived.within("body", "items", i).issues)
            continue
        rows.append(
            {
                "name": item.name,
                "owner": principal.name,
                "priority": int(item.priority),  # the validator turned a level name into a number
                "max_attempts": item.max_attempts,
                **derived,
            }
        )
    if issues:
        shown = issues[:MAX_ISSUES]
        if len(issues) > MAX_ISSUES:
            shown.append(
                (("body", "items"), f"{len(issues)} issues in all; the first shown", "value_error")
            )
        raise Invalid.many(shown)
    account_rules.check_queued_limit(
        principal.name, principal.max_queued, session=session, settings=settings, adding=len(rows)
    )
    trace_quota.check_trace_quota(
        principal.name,
        adding=sum(row["trace_points"] for row in rows),
        session=session,
        settings=settings,
    )
    ids = crud.insert_experiments(rows, [item.tags for item in items], session=session)
    audit.record_each(
        "submit",
        session=session,
        actor=principal.name,
        experiment_ids=ids,
        details=[
            {"priority": row["priority"], "name": row["name"], "batch": len(ids)} for row in rows
        ],
    )
    try:
        if idempotency_key:
            batch_keys.remember(session, principal.name, idempotency_key, digest, ids)
        session.commit()
    except IntegrityError:  # a concurrent batch with the same key won
        session.rollback()
        earlier = batch_keys.replay(
            session, principal.name, idempotency_key or "", digest, len(items)
        )
        if earlier is None:
            raise
        return Batch(earlier, replayed=True)
    ctx.dispatch()
    return Batch(ids, replayed=False)


def _spec_columns(spec: ExperimentSpec, settings: ApiSettings) -> dict[str, Any] | Invalid:
    """The columns a spec gives its experiment, or the server limit it breaks."""
    resolved = spec.resolved()
    try:
        check_limits(spec, settings=settings, resolved=resolved)
    except Invalid as error:
        return error
    return crud.spec_values(spec, resolved)
