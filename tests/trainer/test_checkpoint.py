"""A checkpoint state survives bytes and loads with weights_only=True."""

import io

import torch

from trainer import checkpoint


def test_state_round_trips_through_bytes_with_weights_only():
    state = {
        "version": checkpoint.VERSION,
        "W": torch.randn(2, 3, 4),
        "step": 7,
        "weak_recovery_samples": [None, 12],
        "generators": [torch.Generator().get_state()],
        "wall_time_s": 1.5,
        "phase": "phase1",
    }
    data = checkpoint.dumps(state)
    back = checkpoint.loads(data)
    assert torch.equal(back["W"], state["W"]) and back["step"] == 7
    assert back["weak_recovery_samples"] == [None, 12]
    torch.load(io.BytesIO(data), weights_only=True)
