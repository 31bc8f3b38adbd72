"""Sweeps: submit (idempotent per owner and definition), list, show, the experiments of one,
cancel. Each change is committed here with its audit record, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import audit, sweeps
from api.expand import ExpansionError, expand, sweep_hash
from api.schemas import SweepCreate
from api.services import accounts as account_rules
from api.services import trace_quota
from api.services.context import Context
from api.services.errors import Invalid
from api.services.limits import check_cells
from api.services.pages import Page, id_page, page_size
from db.models import Experiment, Status, Sweep, SweepStatus
from trainer.spec import trace_points


@dataclass(frozen=True)
class SweepState:
    """A sweep with its experiments counted by status and its summed sample budgets."""

    sweep: Sweep
    status: SweepStatus
    progress: dict[Status, int]
    samples_done: int
    samples_total: int


def states(rows: Sequence[Sweep], *, session: Session) -> list[SweepState]:
    counts = sweeps.progress(session=session, sweep_ids=[s.id for s in rows])
    return [
        SweepState(
            sweep=s,
            status=sweeps.status_of(s, counts[s.id]["progress"]),
            progress=counts[s.id]["progress"],
            samples_done=counts[s.id]["samples_done"],
            samples_total=counts[s.id]["samples_total"],
        )
        for s in rows
    ]


def state(sweep: Sweep, *, session: Session) -> SweepState:
    return states([sweep], session=session)[0]


@dataclass(frozen=True)
class SweepSubmission:
    state: SweepState
    created: bool  # False: the same definition was submitted before, nothing new was stored


def submit(body: SweepCreate, *, ctx: Context) -> SweepSubmission:
    """Expand the definition into experiments (Invalid naming the cell), check that the whole grid
    fits the server's limits, the owner's queued limit and trace quota, store sweep, experiments
    and audit record in one transaction, then ring the dispatcher's doorbell. The same
    definition again returns the stored sweep."""
    session, principal, settings = ctx.session, ctx.principal, ctx.settings
    definition = body.model_dump(mode="json", exclude_none=True)
    digest = sweep_hash(definition)
    existing = sweeps.find(session=session, owner=principal.name, sweep_hash=digest)
    if existing is not None:
        return SweepSubmission(state(existing, session=session), created=False)
    try:
        planned = expand(definition)
    except ExpansionError as error:
        raise Invalid(error.loc, str(error), error.kind) from None
    check_cells(planned, settings=settings)
    account_rules.check_queued_limit(
        principal.name,
        principal.max_queued,
        session=session,
        settings=settings,
        adding=len(planned),
    )
    trace_quota.check_trace_quota(
        principal.name,
        adding=sum(trace_points(plan.spec) for plan in planned),
        session=session,
        settings=settings,
    )
    sweep, created = sweeps.create(
        body,
        session=session,
        definition=definition,
        sweep_hash=digest,
        planned=planned,
        owner=principal.name,
    )
    if created:
        audit.record(
            "submit_sweep",
            session=session,
            actor=principal.name,
            detail={"sweep_id": sweep.id, "experiments": len(planned)},
        )
    session.commit()
    if created:
        ctx.dispatch()  # the doorbell: the fair dispatcher gives free slots, users take turns
    return SweepSubmission(state(sweep, session=session), created)


def list_sweeps(
    *,
    ctx: Context,
    owner: str | None = None,
    name: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[SweepState]:
    """Newest first, keyset pages by id, of the sweeps the principal may see."""
    visible, owner = account_rules.visible_owner(
        owner, principal=ctx.principal, settings=ctx.settings
    )
    if not visible:
        return Page([], None)
    query = select(Sweep).order_by(Sweep.id.desc())
    if owner is not None:
        query = query.where(Sweep.owner == owner)
    if name:
        query = query.where(Sweep.name.icontains(name, autoescape=True))
    if cursor:
        query = query.where(Sweep.id < int(cursor))
    size = page_size(limit, ctx.settings)
    page = id_page(list(ctx.session.scalars(query.limit(size + 1))), size)
    return Page(states(page.items, session=ctx.session), page.next_cursor)


def experiments(
    sweep: Sweep, *, session: Session, limit: int, cursor: str | None = None
) -> Page[Experiment]:
    """The sweep's experiments in expansion order (ids were assigned in that order)."""
    query = select(Experiment).where(Experiment.sweep_id == sweep.id).order_by(Experiment.id)
    if cursor:
        query = query.where(Experiment.id > int(cursor))
    return id_page(list(session.scalars(query.limit(limit + 1))), limit)


def cancel(sweep: Sweep, *, ctx: Context) -> SweepState:
    """Cancel every queued or running experiment of the sweep and mark it, with the audit record;
    cancelling twice is harmless."""
    sweeps.cancel(session=ctx.session, sweep=sweep)
    audit.record(
        "cancel_sweep",
        session=ctx.session,
        actor=ctx.principal.name,
        detail={"sweep_id": sweep.id, "owner": sweep.owner},
    )
    ctx.session.commit()
    return state(sweep, session=ctx.session)
