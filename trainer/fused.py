"""Many experiments, one program: `run_group(members, device) -> [Result | exception, …]`.

The members must share `lanes.shape_key`. Their seeds become lanes; lanes with the same
lockstep key form a cohort that trains as one batched program, and the cohorts of a group take
turns, a chunk each, in this process. Each lane's numbers and trace are those of its experiment
run alone (bit for bit on CPU): the lanes never mix, and the chunks are the same.

Per experiment, as if alone: its callbacks (evaluation points, should_stop, checkpoints at most
every `checkpoint_every_s`, `on_progress` if the callbacks have it), its resume state, its
Result. An experiment whose seeds have all diverged, that is cancelled, or whose callbacks raise
leaves its cohort (its lanes are compacted out) and the others go on; its entry in the returned
list is its Result, or the exception it raised.

Wall-clock limits (Member.wall_s) are per experiment too, each counted from that experiment's
own start in this call: at the first chunk boundary past its limit an experiment leaves its
cohort with status timed_out, a checkpoint taken there, while the others go on. The clock is
wall time, not the member's share of it: fused members that take turns each see the whole
group's time pass. Phase II checks the same limit at each of its chunks (trainer.phase2): an
experiment past it there ends timed_out with its Phase I result and no Phase II fit; its last
checkpoint is the last one Phase I took (a state at Phase I's end cannot be resumed into Phase
II), so a retry replays Phase I from there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from trainer import cohort, lanes, linalg, loop, metrics, model, phase2
from trainer.cohort import Cohort
from trainer.experiment import Experiment, Member, result_of
from trainer.results import EvalPoint, Result, RunStatus

# should_stop is asked between chunks, at most this often (it may cost a database query).
STOP_POLL_S = 0.25

__all__ = ["Member", "resolve_device", "run_group"]


def resolve_device(device: str | torch.device | None, spec: Any) -> torch.device:
    """The argument wins; None defers to spec.device; 'auto' is CUDA when available, else CPU."""
    name = spec.device if device is None else device
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def run_group(
    members: Sequence[Member],
    device: str | torch.device | None = None,
    checkpoint_every_s: float = 60.0,
    threads: int | None = None,
    on_outcome: Callable[[int, Result | BaseException], None] | None = None,
) -> list[Result | BaseException]:
    """Train every member; one outcome per member, in order. Raises ValueError only when the
    members cannot share a program (different shape keys). threads: how many CPU threads large
    products may use (default: torch's count); everything else runs on one. on_outcome(i, outcome)
    hears each member's end as soon as it ends (the others may still be training); an exception
    it raises is logged nowhere and ignored, so one member's bookkeeping cannot stop the rest."""
    if len({lanes.shape_key(m.spec) for m in members}) > 1:
        raise ValueError("run_group: the members' shape keys differ")
    dev = resolve_device(device, members[0].spec)
    outcomes: list[Result | BaseException | None] = [None] * len(members)
    started: dict[int, Experiment] = {}
    for i, m in enumerate(members):
        try:
            started[i] = Experiment.start(m, dev)
        except Exception as exc:  # noqa: BLE001 - a bad resume state fails its member only
            outcomes[i] = exc
    report = _Reporter(outcomes, started, on_outcome)
    report()
    run = _Run(dev, checkpoint_every_s, threads or torch.get_num_threads(), report)
    _train(cohort.form(list(started.values())), run)
    return outcomes  # type: ignore[return-value]


@dataclass
class _Reporter:
    """Collects each member's outcome, and tells on_outcome once, as soon as it is known."""

    outcomes: list[Result | BaseException | None]
    started: dict[int, Experiment]
    on_outcome: Callable[[int, Result | BaseException], None] | None
    told: set[int] = field(default_factory=set)

    def __call__(self) -> None:
        for i in range(len(self.outcomes)):
            e = self.started.get(i)
            if self.outcomes[i] is None and e is not None:
                self.outcomes[i] = e.outcome
            outcome = self.outcomes[i]
            if outcome is None or i in self.told:
                continue
            self.told.add(i)
            if self.on_outcome is not None:
                with contextlib.suppress(Exception):
                    self.on_outcome(i, outcome)


@dataclass(frozen=True)
class _Run:
    """What the caller chose for the whole group."""

    device: torch.device
    checkpoint_every_s: float
    threads: int
    report: Callable[[], None]


def _train(cohorts: list[Cohort], run: _Run) -> None:
    """Every cohort to its end, a chunk each in turn."""
    for c in cohorts:
        _emit(c, loop.evaluate(c) if c.state.step == 0 else [])
    run.report()
    cohorts = [c for c in cohorts if c.experiments]
    while cohorts:
        for c in cohorts:
            _round(c, run)
            run.report()
        cohorts = [c for c in cohorts if c.experiments]


def _phase1_threads(c: Cohort, run: _Run) -> contextlib.AbstractContextManager[None]:
    # the fast path's tensors are small: one CPU thread, large products excepted
    if not c.rule.fast(c.lead.r.B):
        return contextlib.nullcontext()
    large = c.lead.r.B > 8  # algorithms.FAST_MAX_BATCH
    return linalg.one_thread(run.device, parallel_matmuls=large, threads=run.threads)


def _round(c: Cohort, run: _Run) -> None:
    """One chunk of the cohort, then what each experiment must hear or decide."""
    end = loop.next_end(c)
    tick = time.perf_counter()
    try:
        with _phase1_threads(c, run):
            steps = end - c.state.step
            loop.advance(c, end)
            c.session_steps += steps
            c.compute_s += time.perf_counter() - tick
            points = loop.evaluate(c) if end in c.lead.schedule else []
    except Exception as exc:  # noqa: BLE001 - the cohort's program failed: all its members
        for e in c.experiments:
            e.outcome = exc
        c.experiments = []
        return
    _emit(c, points)
    done: list[tuple[Experiment, list[int], RunStatus]] = []
    now = time.perf_counter()
    for e, idx in c.spans():
        if e.outcome is not None:
            continue
        status = _decide(c, e, idx, now, evaluated=bool(points), every_s=run.checkpoint_every_s)
        if status is not None:
            done.append((e, idx, status))
    for e, idx, status in done:
        _settle(c, e, idx, status, run)
    c.compact([e for e in c.experiments if e.outcome is None])


def _emit(c: Cohort, points: list[tuple[int, EvalPoint]]) -> None:
    for k, point in points:
        e = c.experiments[k]
        if e.outcome is None:
            _guard(e, lambda e=e, point=point: e.callbacks.on_eval(point))
    c.compact([e for e in c.experiments if e.outcome is None])


def _guard(e: Experiment, call: Any) -> Any:
    """Run one of the experiment's callbacks; an exception ends that experiment only."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001
        e.outcome = exc
        return None


def _decide(
    c: Cohort, e: Experiment, idx: list[int], now: float, evaluated: bool, every_s: float
) -> RunStatus | None:
    """How the experiment's Phase I ends here, None while it goes on."""
    st = c.state
    if all(st.diverged_at_step[i] is not None for i in idx):
        return RunStatus.diverged
    if st.step >= e.r.total_steps:
        return RunStatus.completed
    if e.wall_s is not None and now - e.started >= e.wall_s:
        # A checkpoint where it stopped, so that a retry (a fresh limit) goes on from here.
        _progress(e, st.step)
        state = e.checkpoint(st.take(idx))
        _guard(e, lambda: e.callbacks.on_checkpoint(state))
        return RunStatus.timed_out
    if now - e.last_poll >= STOP_POLL_S or evaluated:
        e.last_poll = now
        _progress(e, st.step)
        if _guard(e, e.callbacks.should_stop):
            return RunStatus.cancelled
    if e.outcome is None and now - e.last_checkpoint >= every_s:
        state = e.checkpoint(st.take(idx))
        _guard(e, lambda: e.callbacks.on_checkpoint(state))
        e.last_checkpoint = time.perf_counter()
    return None


def _progress(e: Experiment, step: int) -> None:
    progress = getattr(e.callbacks, "on_progress", None)
    if progress is not None:
        _guard(e, lambda: progress(step, e.samples_at(step)))


def _settle(c: Cohort, e: Experiment, idx: list[int], status: RunStatus, run: _Run) -> None:
    """The experiment's Result: Phase II first if it completed and has one."""
    lanes_ = c.state.take(idx)
    speed = (c.session_steps, c.compute_s)
    try:
        if status is not RunStatus.completed:
            e.outcome = result_of(e, status, lanes_, speed)
            return
        # reductions on one thread (with two, torch may split a reduction by how many seeds
        # share it), products above linalg.PARALLEL_MATMUL on all
        with linalg.one_thread(run.device, parallel_matmuls=True, threads=run.threads):
            e.outcome = _finish(e, lanes_, speed)
    except Exception as exc:  # noqa: BLE001 - this experiment's Phase II or callback failed
        e.outcome = exc


def _phase1_end(diverged_at_step: list[int | None]) -> RunStatus:
    """A run that got to its end diverged when any of its seeds did."""
    diverged = any(step is not None for step in diverged_at_step)
    return RunStatus.diverged if diverged else RunStatus.completed


def _finish(e: Experiment, lanes_: Any, speed: tuple[int, float]) -> Result:
    S = len(e.seeds)
    if e.spec.phase2 is None:
        status = _phase1_end(lanes_.diverged_at_step)
        return result_of(e, status, lanes_, speed)
    W = lanes_.W
    refit = e.fixed if e.spec.phase2.data == "phase1" else None  # gd's set, else fresh samples
    deadline = e.started + e.wall_s if e.wall_s is not None else None
    try:
        fit = phase2.fit(
            W, e.act, e.spec.phase2, e.target, e.seeds,
            e.r.phase2_samples,  # type: ignore[arg-type]
            data=refit, deadline=deadline,
        )  # fmt: skip
    except phase2.DeadlinePassed as stopped:
        extra = {"phase2_samples_done": stopped.samples_done}
        result = result_of(e, RunStatus.timed_out, lanes_, speed, extra=extra)
        where = f" (in Phase II, after {stopped.samples_done} of its {e.r.phase2_samples} samples)"
        return dataclasses.replace(result, message=result.message + where)
    test = e.test.mse(lambda x: model.forward(W, fit.a, fit.b, fit.act, x))
    test_mse, ridge = metrics.to_list(test, S), fit.ridge
    overlap = metrics.overlap_metrics(metrics.overlaps(W, lanes_.theta))
    values = {k: metrics.to_list(v, S) for k, v in overlap.items()}
    values["train_loss"] = metrics.to_list(fit.train_mse, S)
    values["test_mse"] = test_mse
    fresh = 0 if refit is not None else e.r.phase2_samples  # the same samples count once
    samples = e.samples_at(lanes_.step) + fresh  # type: ignore[operator]
    e.callbacks.on_eval(EvalPoint("phase2", lanes_.step, samples, list(e.seeds), values))
    status = _phase1_end(lanes_.diverged_at_step)
    return result_of(
        e,
        status,
        lanes_,
        speed,
        test_mse,
        ridge,
        {"phase2_samples": fresh, "phase2_data": e.spec.phase2.data},
    )
