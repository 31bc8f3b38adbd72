"""Resolving a spec: every expression evaluated at its d and N, into concrete numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from trainer import expr
from trainer.spec.fields import MAX_COUNT, Expr, Unstated
from trainer.spec.phase1 import Algorithm

if TYPE_CHECKING:
    from trainer.spec.experiment import ExperimentSpec


@dataclass
class ResolvedStage:
    """A stage with every expression evaluated: `samples` and `steps` both filled in."""

    samples: int
    steps: int
    lr: float
    inner_lr: float


@dataclass
class Resolved:
    """Concrete numbers for one spec: N, B (gd: n), stages, Phase II samples, eval interval."""

    N: int
    B: int
    n: int | None
    stages: list[ResolvedStage]
    phase2_samples: int | None
    every: int | None

    @property
    def total_samples(self) -> int:
        return sum(stage.samples for stage in self.stages)

    @property
    def total_steps(self) -> int:
        return sum(stage.steps for stage in self.stages)


class SpecError(ValueError):
    """A whole-spec check failed at one field: `loc` is its path (("phase1", "stages", 0,
    "lr")), so a caller names the field from data, not from the message; `kind` is the issue's
    type when the rule is one the schema cannot state."""

    def __init__(self, field: str, message: str, kind: Unstated | None = None) -> None:
        super().__init__(f"{field} {message}")
        self.kind = kind
        self.loc: tuple[str | int, ...] = tuple(
            int(part) if part.isdigit() else part for part in field.split(".")
        )


def _kind(raw: Expr) -> Unstated:
    # A number is in the schema's bounds already, so what it breaks relates it to another field
    # (a stage's samples below the batch size); an expression's value is known only now.
    return Unstated.expression if isinstance(raw, str) else Unstated.cross_field


def _evaluate(value: Expr, env: dict[str, float], field: str) -> float:
    try:
        return expr.evaluate(value, env)
    except ValueError as error:
        raise SpecError(field, f"cannot be evaluated: {error}", _kind(value)) from None


def _positive_int(value: Expr, env: dict[str, float], field: str, *, minimum: int = 1) -> int:
    number = _evaluate(value, env, field)
    if not number <= MAX_COUNT:  # also NaN
        raise SpecError(field, f"evaluates to {number:g}; it must be at most 2^53", _kind(value))
    rounded = round(number)
    if rounded < minimum:
        raise SpecError(
            field, f"evaluates to {number:g}; it must be at least {minimum}", _kind(value)
        )
    return rounded


def _nonnegative(value: Expr, env: dict[str, float], field: str) -> float:
    number = _evaluate(value, env, field)
    if number < 0:
        raise SpecError(field, f"evaluates to {number:g}; it must be ≥ 0", _kind(value))
    return number


def resolve(spec: ExperimentSpec) -> Resolved:
    d = float(spec.d)
    N = _positive_int(spec.model.width, {"d": d}, "model.width")
    env = {"d": d, "N": float(N)}
    p1 = spec.phase1
    if p1.algorithm == Algorithm.gd:
        B = _positive_int(p1.n, env, "phase1.n")  # type: ignore[arg-type]
    else:
        B = _positive_int(p1.batch_size, env, "phase1.batch_size")
    n = B if p1.algorithm == Algorithm.gd else None
    # Outer steps per fresh minibatch: reuse and multipass count one outer update per minibatch.
    stages = []
    for i, stage in enumerate(p1.stages):
        where = f"phase1.stages.{i}"
        lr = _nonnegative(stage.lr, env, f"{where}.lr")
        inner = stage.inner_lr if stage.inner_lr is not None else stage.lr
        inner_lr = _nonnegative(inner, env, f"{where}.inner_lr")
        if stage.samples is not None:
            if p1.algorithm == Algorithm.gd:
                raise SpecError(f"{where}.samples", "is not for gd: budget gd stages in 'steps'")
            samples = _positive_int(stage.samples, env, f"{where}.samples", minimum=B)
            steps = samples // B
            samples = steps * B
        else:
            steps = _positive_int(stage.steps, env, f"{where}.steps")  # type: ignore[arg-type]
            samples = 0 if p1.algorithm == Algorithm.gd else steps * B
        stages.append(ResolvedStage(samples, steps, lr, inner_lr))
    if p1.algorithm == Algorithm.gd:
        stages[0].samples = B  # the fixed set (n = B) is drawn once, at the start
    if sum(stage.samples for stage in stages) > MAX_COUNT:
        raise SpecError(
            "phase1.stages", "add up to a sample budget beyond 2^53", Unstated.cross_field
        )
    phase2_samples = None
    if spec.phase2 is not None and spec.phase2.data == "phase1":
        if p1.algorithm != Algorithm.gd:
            raise SpecError(
                "phase2.data",
                "'phase1' needs phase1.algorithm gd: the other algorithms stream their samples "
                "and keep none to refit on",
            )
        phase2_samples = _positive_int(B, env, "phase1.n", minimum=10)  # gd: n = B
    elif spec.phase2 is not None:
        phase2_samples = _positive_int(spec.phase2.samples, env, "phase2.samples", minimum=10)
    every = None
    if spec.eval.every is not None:
        every = _positive_int(spec.eval.every, env, "eval.every")
    return Resolved(N, B, n, stages, phase2_samples, every)
