"""The server's limits on one spec (SILAB_MAX_WALL_S, SILAB_MAX_TRACE_POINTS,
SILAB_MAX_MEMORY_GB): a 422 naming the field, the same at /validate, submit, in a batch item and
in a sweep's cell. The per-user limits (queued experiments, trace quota) are 429s of their own."""

from __future__ import annotations

from collections.abc import Sequence

from api.config import ApiSettings
from api.expand import Planned
from api.services.errors import Invalid
from trainer.spec import ExperimentSpec, Resolved, Unstated, memory_estimate_bytes, trace_points


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
            Unstated.cross_field,
        )
    estimate = memory_estimate_bytes(spec, resolved)
    if estimate > settings.max_memory_gb * 2**30:
        raise Invalid(
            ("body", "spec", "max_memory_gb"),
            f"memory estimate {estimate / 2**30:.1f} GiB (memory_estimate_bytes = {estimate}) "
            f"exceeds this server's limit of {settings.max_memory_gb:g} GiB "
            "(SILAB_MAX_MEMORY_GB); spec.max_memory_gb cannot raise it",
            Unstated.cross_field,
        )


def check_cells(planned: Sequence[Planned], *, settings: ApiSettings) -> None:
    """check_limits for every experiment of a sweep: the first one over names the field in the
    base (an axis may have set it) and its cell in the message."""
    for index, plan in enumerate(planned):
        try:
            check_limits(plan.spec, settings=settings)
        except Invalid as error:
            loc, message, kind = error.issues[0]
            where = ("body", "base", *loc[2:])
            raise Invalid(where, f"cell {index} {plan.cell_key}: {message}", kind) from None
