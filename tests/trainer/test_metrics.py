"""Overlap summaries and the evaluation schedule."""

import torch

from trainer import metrics


def test_overlap_summaries_per_seed():
    theta = torch.tensor([[1.0, 0.0]])
    W = torch.tensor([[[1.0, 0.0], [0.6, 0.8], [0.0, 2.0], [-3.0, 0.0]]])  # |m| = 1, .6, 0, 1
    values = metrics.overlap_metrics(metrics.overlaps(W, theta))
    assert abs(values["mean_abs_m"].item() - 0.65) < 1e-6
    assert abs(values["median_abs_m"].item() - 0.8) < 1e-6
    assert values["max_abs_m"].item() == 1.0
    assert values["frac_m_05"].item() == 0.75 and values["frac_m_09"].item() == 0.5


def test_schedule_is_log_spaced_and_includes_start_end_and_intervals():
    steps = metrics.schedule(1000, 10, every=400, unit=4)  # B = 4: positions in steps
    assert steps[0] == 0 and steps[-1] == 1000
    assert set(range(100, 1001, 100)) <= set(steps)  # every 400 samples = 100 steps
    assert steps == sorted(set(steps))
    assert 1 in steps and len(steps) <= 10 + 2 + 1000 // 100
