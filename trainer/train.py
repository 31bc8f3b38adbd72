"""The entry point: `run(spec) -> Result`, Phase I then Phase II, reporting through callbacks.

Randomness: every seed has its own generators (trainer.targets.seed_generator), so the same spec
and seed give the same numbers on a given device, and a seed's numbers do not depend on the seeds
run beside it. Phase I consumes data in chunks whose boundaries depend only on the spec (stage
ends, evaluation points, a fixed chunk length), never on timing: a checkpoint is taken at a chunk
boundary, and a resumed run replays exactly the chunks the uninterrupted run would have.

No prints, no files, no environment: the caller reads the Result and listens to the callbacks.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import torch

from trainer import algorithms, checkpoint, linalg, metrics, model, phase2, recovery, targets
from trainer.results import Callbacks, EvalPoint, NoCallbacks, Result, SeedResult
from trainer.spec import ExperimentSpec

# Fast path: samples per chunk (the K of algorithms.fast_chunk; cost per step grows with K, the
# matmul overhead per chunk shrinks with it).
FAST_CHUNK_SAMPLES = 64
# Reference path: numbers per seed (samples · d) drawn at once, and at most this many updates.
REFERENCE_CHUNK_NUMBERS = 2**20
REFERENCE_CHUNK_STEPS = 256
# should_stop is asked at chunk boundaries, at most this often (it may cost a database query).
STOP_POLL_S = 0.25


def resolve_device(device: str | torch.device | None, spec: ExperimentSpec) -> torch.device:
    """The argument wins; None defers to spec.device; 'auto' is CUDA when available, else CPU."""
    name = spec.device if device is None else device
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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
    should_stop() returning True ends in status 'cancelled'. Invalid input raises ValueError.
    """
    return _Run(
        spec, resolve_device(device, spec), callbacks or NoCallbacks(), checkpoint_every_s
    ).execute(resume)


class _Run:
    def __init__(
        self,
        spec: ExperimentSpec,
        device: torch.device,
        callbacks: Callbacks,
        checkpoint_every_s: float,
    ):
        self.started = time.perf_counter()
        self.spec, self.device, self.callbacks = spec, device, callbacks
        self.checkpoint_every_s = checkpoint_every_s
        self.dtype = torch.float64 if spec.dtype == "float64" else torch.float32
        self.r = spec.resolved()
        self.seeds = spec.seed_list
        S, N, d = len(self.seeds), self.r.N, spec.d
        p1 = spec.phase1
        self.gd = p1.algorithm == "gd"
        self.rule = algorithms.UpdateRule(
            p1.algorithm,
            p1.reuse_variant,
            p1.passes,
            p1.spherical,
            p1.train,
            spec.model.second_layer_scale,
            p1.clip,
        )
        self.fast = self.rule.fast(self.r.B)
        kw = {"dtype": self.dtype, "device": device}

        # Draws at the start, in a fixed order, from each seed's 'train' stream.
        self.gens = targets.generators(self.seeds, "train", device)
        theta = targets.draw_theta(spec.target.theta, self.gens, d, **kw)
        self.target = targets.Target(spec.target.coefficients(), spec.target.noise, theta)
        self.act = model.make_activation(spec.model.activation, self.gens, N, **kw)
        self.params = model.init_params(
            self.gens,
            N,
            d,
            second_layer_scale=spec.model.second_layer_scale,
            bias_init=spec.model.bias_init,
            bias_scale=spec.model.bias_scale,
            **kw,
        )
        self.fixed = self.target.sample(self.gens, self.r.n) if self.gd else None  # gd's set
        self._test: metrics.TestSet | None = None

        self.stage_ends = []
        for stage in self.r.stages:
            self.stage_ends.append((self.stage_ends[-1] if self.stage_ends else 0) + stage.steps)
        self.total = self.r.total_steps
        self.evals = metrics.schedule(
            self.total, spec.eval.points, self.r.every, 1 if self.gd else self.r.B
        )
        if self.fast:
            self.chunk_steps = max(1, FAST_CHUNK_SAMPLES // self.r.B)
        else:
            per_step = (self.r.n if self.gd else self.r.B) * d
            self.chunk_steps = max(
                1, min(REFERENCE_CHUNK_STEPS, REFERENCE_CHUNK_NUMBERS // per_step)
            )

        # What changes during training (and goes into a checkpoint).
        self.step = 0
        self.loss_sum = torch.zeros(S, dtype=torch.float64, device=device)
        self.loss_count = 0
        self.weak_samples: list[int | None] = [None] * S
        self.weak_step: list[int | None] = [None] * S
        ev = spec.eval
        self.recovery = recovery.Tracker(
            recovery.Criteria(tuple(ev.thresholds), ev.held_threshold, ev.held_floor), S
        )
        self.diverged: list[int | None] = [None] * S
        self.prior_wall_s = 0.0
        self.last_test_mse: list[float | None] = [None] * S
        # This session's Phase I throughput.
        self.session_steps = 0
        self.compute_s = 0.0

    # ------------------------------------------------------------------------------- helpers
    @property
    def test(self) -> metrics.TestSet:
        if self._test is None:
            self._test = metrics.TestSet(
                self.target, self.seeds, self.spec.eval.test_samples, self.device
            )
        return self._test

    def samples_at(self, step: int) -> int:
        return self.r.n if self.gd else step * self.r.B  # type: ignore[return-value]

    def stage_at(self, step: int) -> int:
        return next(i for i, end in enumerate(self.stage_ends) if end > step)

    def state(self) -> dict[str, Any]:
        W, a, b = self.params
        return {
            "version": checkpoint.VERSION,
            "spec_hash": self.spec.spec_hash(),
            "seeds": list(self.seeds),
            "phase": "phase1",
            "step": self.step,
            "W": W.clone(),
            "a": a.clone(),
            "b": b.clone(),
            "theta": self.target.theta.clone(),
            "train_generators": [g.get_state() for g in self.gens],
            "loss_sum": self.loss_sum.clone(),
            "loss_count": self.loss_count,
            "weak_recovery_samples": list(self.weak_samples),
            "weak_recovery_step": list(self.weak_step),
            "recovery": self.recovery.state(),
            "diverged_at_step": list(self.diverged),
            "last_test_mse": list(self.last_test_mse),
            "wall_time_s": self.prior_wall_s + time.perf_counter() - self.started,
        }

    def load(self, state: dict[str, Any]) -> None:
        if state.get("version") != checkpoint.VERSION:
            raise ValueError("resume: not a silab checkpoint of this version")
        if state["spec_hash"] != self.spec.spec_hash() or list(state["seeds"]) != self.seeds:
            raise ValueError("resume: the checkpoint belongs to another spec or seed list")
        kw = {"dtype": self.dtype, "device": self.device}
        if not torch.equal(state["theta"].to(**kw), self.target.theta):
            raise ValueError("resume: θ differs from the one drawn from the seeds")
        self.params = tuple(state[k].to(**kw) for k in ("W", "a", "b"))  # type: ignore[assignment]
        for g, s in zip(self.gens, state["train_generators"]):
            g.set_state(s)
        self.step = int(state["step"])
        self.loss_sum = state["loss_sum"].to(self.device)
        self.loss_count = int(state["loss_count"])
        self.weak_samples = list(state["weak_recovery_samples"])
        self.weak_step = list(state["weak_recovery_step"])
        if "recovery" in state:  # checkpoints written before trainer/recovery.py lack it
            self.recovery.load(state["recovery"])
        self.diverged = list(state["diverged_at_step"])
        self.last_test_mse = list(state["last_test_mse"])
        self.prior_wall_s = float(state["wall_time_s"])

    # ------------------------------------------------------------------------------ evaluate
    def evaluate(self) -> None:
        W, a, b = self.params
        S = len(self.seeds)
        samples = self.samples_at(self.step)
        overlap = metrics.overlap_metrics(metrics.overlaps(W, self.target.theta))
        values = {k: metrics.to_list(v, S) for k, v in overlap.items()}
        loss = self.loss_sum / self.loss_count if self.loss_count else None
        values["train_loss"] = metrics.to_list(loss, S)
        if not self.gd:  # a running mean over the minibatches since the last evaluation
            self.loss_sum.zero_()
            self.loss_count = 0
        test = None
        if self.rule.train == "all":
            test = self.test.mse(lambda x: model.forward(W, a, b, self.act, x))
            self.last_test_mse = metrics.to_list(test, S)
        values["test_mse"] = metrics.to_list(test, S)
        threshold = self.spec.eval.weak_recovery_threshold
        for s, median in enumerate(values["median_abs_m"]):
            if self.weak_samples[s] is None and median is not None and median >= threshold:
                self.weak_samples[s], self.weak_step[s] = samples, self.step
        self.recovery.update(samples, values["median_abs_m"])
        self.callbacks.on_eval(EvalPoint("phase1", self.step, samples, list(self.seeds), values))

    # ---------------------------------------------------------------------------------- train
    def chunk(self, end: int) -> None:
        """Updates self.step … end − 1, all within one stage."""
        stage = self.r.stages[self.stage_at(self.step)]
        lr, inner = stage.lr, stage.inner_lr
        start = self.step
        if self.gd:
            fx, fy = self.fixed  # type: ignore[misc]
            for _ in range(end - start):
                self.params, r = algorithms.reference_update(
                    self.params, self.act, fx, fy, lr, inner, self.rule
                )
            # gd's training loss: the full-batch MSE before the last step
            self.loss_sum = (r.double() ** 2).sum(1)
            self.loss_count = r.shape[1]
            self.check_finite(r, start, end, per_step=r.shape[1], last_only=True)
            return
        B = self.r.B
        x, y = self.target.sample(self.gens, (end - start) * B)
        if self.fast:
            self.params, r = algorithms.fast_chunk(
                self.params, self.act, x, y, B, lr, inner, self.rule
            )
        else:
            rs = []
            for i in range(0, x.shape[1], B):
                # contiguous copies: BLAS may take another path for a strided batch, and then a
                # seed's numbers would depend on how many seeds share the batch
                self.params, ri = algorithms.reference_update(
                    self.params,
                    self.act,
                    x[:, i : i + B].contiguous(),
                    y[:, i : i + B].contiguous(),
                    lr,
                    inner,
                    self.rule,
                )
                rs.append(ri)
            r = torch.cat(rs, dim=1)
        self.loss_sum += (r.double() ** 2).sum(1)
        self.loss_count += r.shape[1]
        self.check_finite(r, start, end, per_step=B)

    def check_finite(
        self, r: torch.Tensor, start: int, end: int, per_step: int, last_only: bool = False
    ) -> None:
        """Record, per seed, the step at which it first produced a non-finite value."""
        W, a, b = self.params
        bad_r = ~torch.isfinite(r)  # (S, samples of the chunk)
        # 0·w is NaN exactly where w is not finite: one cheap sum per seed instead of a bool pass
        bad = (
            bad_r.any(1)
            | ~torch.isfinite((W * 0).sum((1, 2)))
            | ~torch.isfinite(a).all(1)
            | ~torch.isfinite(b).all(1)
        )
        if not bool(bad.any()):
            return
        first = bad_r.to(torch.int8).argmax(1)  # first non-finite residual (0 if none)
        for s in torch.nonzero(bad).flatten().tolist():
            if self.diverged[s] is None:
                if bad_r[s].any() and not last_only:
                    self.diverged[s] = start + int(first[s]) // per_step
                else:
                    self.diverged[s] = end

    def execute(self, resume: dict[str, Any] | None) -> Result:
        # the fast path's tensors are small: Phase I on one CPU thread, large products excepted
        # (algorithms.fast_chunk)
        large = self.r.B > algorithms.FAST_MAX_BATCH
        with (
            linalg.one_thread(self.device, parallel_matmuls=large)
            if self.fast
            else contextlib.nullcontext()
        ):
            stopped = self.train_phase1(resume)
        if stopped is not None:
            return self.result(stopped)
        # reductions on one thread (with two, torch may split a reduction by how many seeds
        # share it), products above linalg.PARALLEL_MATMUL on all
        with linalg.one_thread(self.device, parallel_matmuls=True):
            return self.finish()

    def train_phase1(self, resume: dict[str, Any] | None) -> str | None:
        """Phase I to its end (None) or to 'diverged' / 'cancelled'."""
        if resume is not None:
            self.load(resume)
        else:
            self.evaluate()
        last_poll = last_checkpoint = time.perf_counter()
        while self.step < self.total:
            next_eval = next(e for e in self.evals if e > self.step)
            boundary = (self.step // self.chunk_steps + 1) * self.chunk_steps
            end = min(self.stage_ends[self.stage_at(self.step)], next_eval, boundary)
            tick = time.perf_counter()
            self.chunk(end)
            self.session_steps += end - self.step
            self.step = end
            self.compute_s += time.perf_counter() - tick
            if self.step == next_eval:
                self.evaluate()
            if all(s is not None for s in self.diverged):
                return "diverged"
            now = time.perf_counter()
            if now - last_poll >= STOP_POLL_S or self.step == next_eval:
                last_poll = now
                if self.callbacks.should_stop():
                    return "cancelled"
            if now - last_checkpoint >= self.checkpoint_every_s and self.step < self.total:
                self.callbacks.on_checkpoint(self.state())
                last_checkpoint = time.perf_counter()
        return None

    def finish(self) -> Result:
        """Phase II if the spec has one, then the Result."""
        test_mse = list(self.last_test_mse)
        ridge: list[float | None] = [None] * len(self.seeds)
        extra: dict[str, Any] = {}
        if self.spec.phase2 is not None:
            fit = phase2.fit(
                self.params[0],
                self.act,
                self.spec.phase2,
                self.target,
                self.seeds,
                self.r.phase2_samples,
            )  # type: ignore[arg-type]
            W = self.params[0]
            test = self.test.mse(lambda x: model.forward(W, fit.a, fit.b, fit.act, x))
            test_mse, ridge = metrics.to_list(test, len(self.seeds)), fit.ridge
            overlap = metrics.overlap_metrics(metrics.overlaps(W, self.target.theta))
            values = {k: metrics.to_list(v, len(self.seeds)) for k, v in overlap.items()}
            values["train_loss"] = metrics.to_list(fit.train_mse, len(self.seeds))
            values["test_mse"] = test_mse
            samples = self.samples_at(self.step) + self.r.phase2_samples  # type: ignore[operator]
            self.callbacks.on_eval(
                EvalPoint("phase2", self.step, samples, list(self.seeds), values)
            )
            extra["phase2_samples"] = self.r.phase2_samples
        status = "diverged" if any(s is not None for s in self.diverged) else "completed"
        return self.result(status, test_mse, ridge, extra)

    # --------------------------------------------------------------------------------- result
    def result(
        self,
        status: str,
        test_mse: list[float | None] | None = None,
        ridge: list[float | None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Result:
        S = len(self.seeds)
        overlap = metrics.overlap_metrics(metrics.overlaps(self.params[0], self.target.theta))
        final = {k: metrics.to_list(v, S) for k, v in overlap.items()}
        test_mse = test_mse or list(self.last_test_mse)
        ridge = ridge or [None] * S
        seeds = [
            SeedResult(
                seed=seed,
                weak_recovery_samples=self.weak_samples[s],
                final_mean_abs_m=final["mean_abs_m"][s],
                final_median_abs_m=final["median_abs_m"][s],
                final_max_abs_m=final["max_abs_m"][s],
                final_frac_m_09=final["frac_m_09"][s],
                test_mse=test_mse[s],
                phase2_ridge=ridge[s],
                diverged_at_step=self.diverged[s],
                weak_recovery_step=self.weak_step[s],
                first_passage_samples=self.recovery.seed(s)[0],
                held_recovery_samples=self.recovery.seed(s)[1],
            )
            for s, seed in enumerate(self.seeds)
        ]
        if status == "diverged":
            first = min(s for s in self.diverged if s is not None)
            count = sum(s is not None for s in self.diverged)
            message = f"diverged at step {first} ({count} of {S} seeds)"
        elif status == "cancelled":
            message = f"cancelled at step {self.step}"
        else:
            message = ""
        per_step = self.r.n if self.gd else self.r.B
        sps = self.session_steps * per_step / self.compute_s if self.compute_s > 0 else 0.0
        info = {
            "neuron_samples_per_second": sps * S * self.r.N,
            "fast_path": self.fast,
            "width": self.r.N,
            "stage_ends": list(self.stage_ends),
            **(extra or {}),
        }
        if not math.isfinite(sps):
            sps = 0.0
        return Result(
            status=status,  # type: ignore[arg-type]
            message=message,
            seeds=seeds,
            samples=self.samples_at(self.step),
            steps=self.step,
            wall_time_s=self.prior_wall_s + time.perf_counter() - self.started,
            device=str(self.device),
            torch_version=torch.__version__,
            samples_per_second=sps,
            extra=info,
        )
