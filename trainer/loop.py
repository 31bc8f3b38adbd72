"""Phase I of a cohort, one chunk at a time: draw, update, check, evaluate.

A chunk never crosses a stage end, an evaluation position or a multiple of `chunk_steps`, all
functions of the spec alone: a resumed run (checkpoints are taken between chunks) replays exactly
the chunks of the uninterrupted one, and every lane of a cohort has the same chunks alone or
fused. The update of a chunk is `algorithms.fast_chunk` where the rule allows it, else the
reference update minibatch by minibatch (gd: full-batch steps on the fixed set).

Adding an algorithm: give it a branch in `algorithms.reference_update` (the reference maths,
any rule), declare in `UpdateRule.fast` whether a fast path computes it, and put what its
shapes and branches depend on into `lanes.shape_key`. This loop needs no change.
"""

from __future__ import annotations

import functools

import torch

from trainer import algorithms, metrics, model
from trainer.cohort import Cohort
from trainer.results import EvalPoint


def stage_at(ends: list[int], step: int) -> int:
    return next(i for i, end in enumerate(ends) if end > step)


def next_end(c: Cohort) -> int:
    """Where the chunk starting at the cohort's step ends."""
    step, lead = c.state.step, c.lead
    boundary = (step // c.chunk_steps + 1) * c.chunk_steps
    return min(
        lead.stage_ends[stage_at(lead.stage_ends, step)], lead.schedule.next_after(step), boundary
    )


def advance(c: Cohort, end: int) -> None:
    """The updates c.state.step … end − 1 (all in one stage)."""
    st, lead = c.state, c.lead
    start = st.step
    lr, inner = c.rates[stage_at(lead.stage_ends, start)]
    stage = algorithms.Stage(c.act, c.rule, lr, inner)
    if c.fixed is not None:  # gd
        fx, fy = c.fixed
        for _ in range(end - start):
            params, r = algorithms.reference_update(st.params, fx, fy, stage)
            st.W, st.a, st.b = params
        # gd's training loss: the full-batch MSE before the last step
        st.loss_sum, st.loss_count = (r.double() ** 2).sum(1), r.shape[1]
        _check_finite(c, r, start, end, per_step=r.shape[1], last_only=True)
        st.step = end
        return
    B = lead.r.B
    x, y = c.sample((end - start) * B)
    if c.rule.fast(B):
        params, r = algorithms.fast_chunk(st.params, x, y, B, stage)
    else:
        params, rs = st.params, []
        for i in range(0, x.shape[1], B):
            # contiguous copies: BLAS may take another path for a strided batch, and then a
            # lane's numbers would depend on how many lanes share the batch
            xb, yb = x[:, i : i + B].contiguous(), y[:, i : i + B].contiguous()
            params, ri = algorithms.reference_update(params, xb, yb, stage)
            rs.append(ri)
        r = torch.cat(rs, dim=1)
    st.W, st.a, st.b = params
    st.loss_sum += (r.double() ** 2).sum(1)
    st.loss_count += r.shape[1]
    _check_finite(c, r, start, end, per_step=B)
    st.step = end


def _check_finite(
    c: Cohort, r: torch.Tensor, start: int, end: int, per_step: int, last_only: bool = False
) -> None:
    """Record, per lane, the step at which it first produced a non-finite value."""
    st = c.state
    bad_r = ~torch.isfinite(r)  # (S, samples of the chunk)
    # 0·w is NaN exactly where w is not finite: one cheap sum per lane instead of a bool pass
    bad = (
        bad_r.any(1)
        | ~torch.isfinite((st.W * 0).sum((1, 2)))
        | ~torch.isfinite(st.a).all(1)
        | ~torch.isfinite(st.b).all(1)
    )
    if not bool(bad.any()):
        return
    first = bad_r.to(torch.int8).argmax(1)  # first non-finite residual (0 if none)
    for s in torch.nonzero(bad).flatten().tolist():
        if st.diverged_at_step[s] is None:
            if bad_r[s].any() and not last_only:
                st.diverged_at_step[s] = start + int(first[s]) // per_step
            else:
                st.diverged_at_step[s] = end


def evaluate(c: Cohort) -> list[tuple[int, EvalPoint]]:
    """The evaluation point of every experiment of the cohort at its step, as (index of the
    experiment in c.experiments, point); weak recovery is recorded on the way."""
    st = c.state
    S = len(st.seeds)
    overlap = metrics.overlap_metrics(metrics.overlaps(st.W, st.theta))
    values = {k: metrics.to_list(v, S) for k, v in overlap.items()}
    loss = st.loss_sum / st.loss_count if st.loss_count else None
    values["train_loss"] = metrics.to_list(loss, S)
    if c.fixed is None:  # a running mean over the minibatches since the last evaluation
        st.loss_sum = torch.zeros_like(st.loss_sum)
        st.loss_count = 0
    points = []
    for k, (e, idx) in enumerate(c.spans()):
        mine = {name: [v[i] for i in idx] for name, v in values.items()}
        mine["test_mse"] = [None] * len(idx)
        if c.rule.train == "all":
            W, a, b = (t[idx[0] : idx[-1] + 1] for t in st.params)
            forward = functools.partial(model.forward, W, a, b, e.act)
            test = e.test.mse(forward)
            mine["test_mse"] = metrics.to_list(test, len(idx))
            for j, i in enumerate(idx):
                st.last_test_mse[i] = mine["test_mse"][j]
        threshold = e.spec.eval.weak_recovery_threshold
        samples = e.samples_at(st.step)
        for j, i in enumerate(idx):
            median = mine["median_abs_m"][j]
            if st.weak_recovery_samples[i] is None and median is not None and median >= threshold:
                st.weak_recovery_samples[i], st.weak_recovery_step[i] = samples, st.step
        if e.recovery is not None:
            e.recovery.update(samples, mine["median_abs_m"])
        points.append((k, EvalPoint("phase1", st.step, samples, list(e.seeds), mine)))
    return points
