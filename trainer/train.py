"""The entry point: `run(spec) -> Result`, Phase I then Phase II, reporting through callbacks.

A run is a group of one (trainer.fused.run_group): the same code trains one experiment or many,
so an experiment's numbers are the same alone or fused.

Randomness: every seed has its own generators (trainer.targets.seed_generator), so the same spec
and seed give the same numbers on a given device, and a seed's numbers do not depend on the seeds
run beside it. Phase I consumes data in chunks whose boundaries depend only on the spec (stage
ends, evaluation points, a fixed chunk length), never on timing: a checkpoint is taken at a chunk
boundary, and a resumed run replays exactly the chunks the uninterrupted run would have.

No prints, no files, no environment: the caller reads the Result and listens to the callbacks.
"""

from __future__ import annotations

from typing import Any

import torch

from trainer.fused import Member, resolve_device, run_group
from trainer.results import Callbacks, NoCallbacks, Result
from trainer.spec import ExperimentSpec

__all__ = ["resolve_device", "run"]


def run(
    spec: ExperimentSpec,
    device: str | torch.device | None = None,
    callbacks: Callbacks | None = None,
    resume: dict[str, Any] | None = None,
    checkpoint_every_s: float = 60.0,
) -> Result:
    """Run an experiment: all seeds batched, Phase I then (if spec.phase2) Phase II.

    device: None uses spec.device; a value here overrides it. resume: a state previously passed
    to callbacks.on_checkpoint (or checkpoint.loads of its bytes); the run continues and ends
    with the same numbers as an uninterrupted one. on_checkpoint is called at most every
    `checkpoint_every_s` seconds, at chunk boundaries. Non-finite values end in status 'diverged'
    (seeds that stay finite keep training until all have diverged or the budget ends);
    should_stop() returning True ends in status 'cancelled'. Invalid input raises ValueError;
    an exception raised by a callback propagates.
    """
    member = Member(spec, callbacks or NoCallbacks(), resume)
    (outcome,) = run_group([member], device, checkpoint_every_s)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome
