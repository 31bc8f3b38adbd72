"""One fused group on a warm worker: `execute_group(ids)` claims, trains together, persists.

The dispatcher (db.scheduler) sends a group's ids in one message, `silab.run_group(ids)`. Here
every id is claimed by the same conditional UPDATE as a lone experiment (queued → running); ids
this attempt loses are skipped. From then on everything stays per experiment: its own lease and
heartbeat thread (RunCallbacks), cancel, checkpoints (each in the transaction of the trace points
before it) and final write, landed as soon as that experiment ends even while the others train.
One member whose spec, checkpoint or callbacks fail, or that diverges, fails alone
(trainer.fused.run_group keeps the others going). A kill -9 of the process loses nothing: each
member's lease runs out, the reaper requeues it, and it resumes from its own checkpoint.

Each member's wall-clock limit (its spec's max_wall_s capped by SILAB_MAX_WALL_S, else that
setting) counts from its own start in this attempt; a member that reaches it stops alone and
ends failed, "wall-clock limit of N s reached after M samples", with its trace, a checkpoint
where it stopped and its partial result kept. Per attempt: a run resumed after a kill, or
retried by its owner, gets a fresh limit (the reaper's attempts bound the first; the second is
someone's decision to give it more time).

torch is imported here lazily, in the run child, never in the worker's parent process.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from celery.utils.log import get_task_logger
from sqlalchemy.orm import Session, sessionmaker

from db import queue
from trainer.results import Result
from trainer.spec import ExperimentSpec
from worker import final_write
from worker.callbacks import RunCallbacks
from worker.config import WorkerSettings
from worker.endings import Outcome, error_text, flush_quietly, persist

log = get_task_logger(__name__)


@dataclass
class _Claimed:
    experiment_id: int
    attempt: int
    spec_data: dict[str, Any]
    callbacks: RunCallbacks


# A claimed member, its spec and the checkpoint it resumes from (None: from the start).
_Ready = tuple[_Claimed, ExperimentSpec, dict[str, Any] | None]


def execute_group(
    experiment_ids: list[int],
    *,
    sessions: sessionmaker[Session],
    settings: WorkerSettings,
    worker: str,
) -> dict[int, Outcome]:
    """Claim and run the group; per id what happened."""
    done = dict.fromkeys(experiment_ids, Outcome.not_claimed)
    # torch and the trainer before the first claim, not after it: a fresh child's import holds
    # the GIL for seconds under load, so no heartbeat thread could run while the leases it had
    # just taken ran out (kill chaos test, load 20: two live workers' runs reaped at 3 s).
    # Imported once per child (warm workers keep it); a kill during the import claims nothing.
    from trainer import checkpoint, fused  # noqa: F401

    claimed = [c for i in experiment_ids if (c := _claim(i, sessions, settings, worker))]
    if not claimed:
        return done
    ready: list[_Ready] = []
    for c in claimed:
        try:
            ready.append((c, ExperimentSpec.model_validate(c.spec_data), _resume(c, sessions)))
        except Exception as error:  # noqa: BLE001 - a bad spec or checkpoint fails its member
            done[c.experiment_id] = _conclude(c, error, sessions, settings)
    for part in _by_shape(ready):
        try:
            _train(part, done, sessions, settings)
        except Exception as error:  # noqa: BLE001 - the part's program failed: its members
            _conclude_rest(part, error, done, sessions, settings)
        except BaseException:  # SystemExit, KeyboardInterrupt: this process is stopping
            _hand_back(ready, done, sessions, settings)
            raise
    return done


def _hand_back(
    ready: list[_Ready],
    done: dict[int, Outcome],
    sessions: sessionmaker[Session],
    settings: WorkerSettings,
) -> None:
    """The worker is being stopped (SIGTERM to its process group: systemd, a deploy, a
    launcher's stop, billiard raising SystemExit in the pool child) while members train: give
    each unfinished one back to the queue with the trace points it has, so the next worker
    resumes it from its checkpoint at once. Failing them would lose the runs to a deploy, and
    leaving them running would idle them until their leases ran out."""
    for c, _, _ in ready:
        if done[c.experiment_id] is not Outcome.not_claimed:
            continue
        c.callbacks.close()
        flush_quietly(c.callbacks)

        def release(session: Session, c: _Claimed = c) -> bool:
            return queue.release(c.experiment_id, session=session, attempt=c.attempt)

        try:
            final_write.land(
                release,
                sessions=sessions,
                what=f"experiment {c.experiment_id} attempt {c.attempt}: hand back",
                retry_for_s=min(settings.final_write_retry_s, 5.0),  # the process is going away
            )
        except Exception:  # unreachable: its lease runs out and the reaper requeues it
            log.exception("experiment %s: could not hand it back", c.experiment_id)
            continue
        done[c.experiment_id] = Outcome.handed_back
        log.warning(
            "experiment %s attempt %s: handed back to the queue (worker stopping)",
            c.experiment_id,
            c.attempt,
        )


def _conclude_rest(
    part: list[_Ready],
    error: BaseException,
    done: dict[int, Outcome],
    sessions: sessionmaker[Session],
    settings: WorkerSettings,
) -> None:
    for c, _, _ in part:
        if done[c.experiment_id] is Outcome.not_claimed:
            done[c.experiment_id] = _conclude(c, error, sessions, settings)


def _claim(
    experiment_id: int, sessions: sessionmaker[Session], settings: WorkerSettings, worker: str
) -> _Claimed | None:
    with sessions() as session:
        experiment = queue.claim(
            experiment_id, session=session, worker=worker, lease_seconds=settings.lease_seconds
        )
        session.commit()
        if experiment is None:
            log.info("experiment %s: not claimed (not queued, or already claimed)", experiment_id)
            return None
        attempt, spec_data = experiment.attempt, experiment.spec
    log.info("experiment %s: attempt %s claimed by %s", experiment_id, attempt, worker)
    callbacks = RunCallbacks(experiment_id, attempt, sessions=sessions, settings=settings)
    # The lease runs from the claim: beat from now on, not once the members before this one
    # have resumed (a fresh child's torch import and their checkpoint loads took 13 s under
    # load, and members later in the group lost leases they were holding).
    callbacks.start()
    return _Claimed(experiment_id, attempt, spec_data, callbacks)


def _resume(c: _Claimed, sessions: sessionmaker[Session]) -> dict[str, Any] | None:
    with sessions() as session:
        stored = queue.load_checkpoint(c.experiment_id, session=session)
    if stored is None:
        return None
    from trainer import checkpoint

    log.info(
        "experiment %s: resuming from the checkpoint at %s samples", c.experiment_id, stored.samples
    )
    resume = checkpoint.loads(stored.state)
    c.callbacks.resume_trace(int(resume["step"]))  # reopen the trace chunks stored up to it
    return resume


def _by_shape(
    ready: list[_Ready],
) -> list[list[_Ready]]:
    """The members by shape key (a group has one; an older message may mix them)."""
    from trainer import lanes

    parts: dict[str, list[_Ready]] = defaultdict(list)
    for member in ready:
        parts[lanes.shape_key(member[1])].append(member)
    return list(parts.values())


def _train(
    part: list[_Ready],
    done: dict[int, Outcome],
    sessions: sessionmaker[Session],
    settings: WorkerSettings,
) -> None:
    from trainer import fused

    spec = part[0][1]
    device = settings.device if settings.device != "auto" else spec.device
    members = [
        fused.Member(sp, c.callbacks, resume, wall_s=settings.wall_limit_s(sp.max_wall_s))
        for c, sp, resume in part
    ]

    def on_outcome(index: int, outcome: Result | BaseException) -> None:
        c = part[index][0]
        done[c.experiment_id] = _conclude(c, outcome, sessions, settings)

    fused.run_group(
        members,
        device=device,
        checkpoint_every_s=settings.checkpoint_seconds,
        on_outcome=on_outcome,
    )


def _conclude(
    c: _Claimed,
    outcome: Result | BaseException,
    sessions: sessionmaker[Session],
    settings: WorkerSettings,
) -> Outcome:
    """The member's final write: its Result, or its failure."""
    c.callbacks.close()
    if isinstance(outcome, Result):
        return persist(
            c.experiment_id,
            c.attempt,
            outcome,
            c.callbacks,
            sessions=sessions,
            retry_for_s=settings.final_write_retry_s,
        )
    if c.callbacks.lost:
        return Outcome.lost_lease
    flush_quietly(c.callbacks)
    message = error_text(outcome)
    final_write.land(
        lambda session: queue.fail(
            c.experiment_id, session=session, attempt=c.attempt, error=message
        ),
        sessions=sessions,
        what=f"experiment {c.experiment_id} attempt {c.attempt}: fail",
        retry_for_s=settings.final_write_retry_s,
    )
    log.error("experiment %s attempt %s failed: %s", c.experiment_id, c.attempt, message)
    return Outcome.failed
