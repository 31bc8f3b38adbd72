"""Experiments: list, queue position, cancel, retry, delete (submitting is
api.services.submissions').

Each change is committed here together with its audit record (one transaction: both or neither),
then the doorbell rings: the maintenance worker runs the fair dispatcher's round. The caller
has already checked
that the experiment exists, that the principal may see it and, for a change, own it (api.deps).
"""

from __future__ import annotations

from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from api import audit, listing
from api.listing import Filters
from api.services import accounts as account_rules
from api.services import changes, trace_quota
from api.services.context import Context
from api.services.errors import BadRequest, Conflict, NotFound
from api.services.pages import Page, page_size
from db import queue, scheduler, usage
from db.models import Experiment, Status


def list_experiments(
    filters: Filters,
    *,
    ctx: Context,
    sort: str = "-id",
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[Experiment]:
    """One keyset page of the experiments the principal may see that match `filters`."""
    try:
        order = listing.Sort.parse(sort)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    visible, owner = account_rules.visible_owner(
        filters.owner, principal=ctx.principal, settings=ctx.settings
    )
    if not visible:
        return Page([], None)
    filters.owner = owner
    try:
        rows, next_cursor = listing.list_experiments(
            session=ctx.session,
            filters=filters,
            sort=order,
            limit=page_size(limit, ctx.settings),
            cursor=cursor,
        )
    except listing.BadCursor as error:
        raise BadRequest(str(error)) from None
    return Page(rows, next_cursor)


def position(experiment: Experiment, *, ctx: Context) -> scheduler.Position:
    found = scheduler.position(
        experiment.id,
        session=ctx.session,
        slots=ctx.settings.worker_slots,
        default_max_running=ctx.settings.default_max_running,
        resend_after_s=ctx.settings.resend_after_s,
    )
    if found is None:  # deleted meanwhile
        raise NotFound(f"experiment {experiment.id} not found")
    return found


def cancel(experiment: Experiment, *, ctx: Context) -> Experiment:
    """Queued: cancelled now; running: asked to stop at its next heartbeat. Conflict when the
    conditional UPDATE matched nothing (it has finished)."""
    before = experiment.status
    return changes.conclude(
        experiment,
        queue.cancel(experiment.id, session=ctx.session),
        ctx=ctx,
        action="cancel",
        detail={"owner": experiment.owner, "status": before},
        refusal=lambda e: f"experiment {e.id} is already {e.status}",
    )


def retry(experiment: Experiment, *, ctx: Context) -> Experiment:
    """Queue a failed, cancelled or diverged experiment again; it counts against its owner's
    queued limit and trace quota. Conflict in any other status."""
    if experiment.status in queue.RETRYABLE:
        account_rules.check_owner_queued_limit(
            experiment.owner, session=ctx.session, settings=ctx.settings
        )
        trace_quota.check_trace_quota(
            experiment.owner,
            adding=trace_quota.retry_adds(experiment),
            session=ctx.session,
            settings=ctx.settings,
            request="retry",
        )
    return changes.conclude(
        experiment,
        queue.retry(experiment.id, session=ctx.session),
        ctx=ctx,
        action="retry",
        detail={"owner": experiment.owner},
        refusal=lambda e: (
            f"experiment {e.id} is {e.status}; only failed, cancelled or "
            "diverged experiments can be retried"
        ),
        dispatch=True,
    )


def delete(experiment: Experiment, *, ctx: Context) -> None:
    """Delete a queued or finished experiment with its tags, trace, checkpoint and idempotency
    keys (ON DELETE CASCADE); Conflict while it runs. The audit log keeps the deletion."""
    session = ctx.session
    experiment_id, owner, was = experiment.id, experiment.owner, experiment.status
    session.expunge(experiment)
    if not _delete_unless_running(experiment_id, session=session):
        session.rollback()
        raise Conflict(f"experiment {experiment_id} is running; cancel it first")
    audit.record(
        "delete",
        session=session,
        actor=ctx.principal.name,
        experiment_id=experiment_id,
        detail={"owner": owner, "status": was},
    )
    session.commit()


def _delete_unless_running(experiment_id: int, *, session: Session) -> bool:
    """Conditional, like every state change: a claim that lands first makes it match nothing."""
    removed = session.execute(
        sql_delete(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status != Status.running)
        .returning(Experiment.owner, Experiment.charged_points, Experiment.status)
        .execution_options(synchronize_session=False)
    ).all()
    usage.discharge(removed, session=session)
    return bool(removed)
