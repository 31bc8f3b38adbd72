"""phase2.data: Phase II refits fresh samples (the default) or, for gd, Phase I's fixed set, so
that n counts every sample behind a Figure 1(b) point."""

import pydantic
import pytest
import torch

from trainer import model, phase2, spec, targets, train
from trainer.canonical import canonical_hash

CPU = torch.device("cpu")


def gd_spec(**phase2_fields):
    return spec.ExperimentSpec.model_validate(
        {
            "d": 16,
            "target": "h3",
            "model": {"width": 16, "activation": "relu", "bias_init": "normal"},
            "phase1": {
                "algorithm": "gd",
                "n": "16*d",
                "spherical": True,
                "stages": [{"steps": 64, "lr": "1/d"}],
            },
            "phase2": {"samples": 1000, **phase2_fields},
            "eval": {"test_samples": 256, "points": 4},
            "seeds": 2,
            "dtype": "float64",
        }
    )


def test_a_fit_on_given_data_fits_exactly_those_samples():
    d, N, S, n = 8, 16, 2, 300
    gens = targets.generators([0, 1], "train", CPU)
    theta = targets.draw_theta("random", gens, d, dtype=torch.float64, device=CPU)
    target = targets.Target({2: 1.0}, 0.0, theta)
    W = torch.randn(S, N, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x, y = target.sample(targets.generators([0, 1], "data", CPU), n)
    p2 = spec.Phase2Spec(data="phase1")
    fit = phase2.fit(W, model.Activation("relu"), p2, target, [0, 1], n, (x, y))
    on_data = ((model.forward(W, fit.a, fit.b, fit.act, x) - y) ** 2).mean(1)
    assert torch.allclose(fit.train_mse.to(on_data.dtype), on_data, rtol=1e-6)


def test_gd_refits_its_fixed_set_and_counts_no_fresh_samples():
    result = train.run(gd_spec(data="phase1"))
    assert result.status == "completed"
    assert result.extra["phase2_samples"] == 0 and result.extra["phase2_data"] == "phase1"
    assert gd_spec(data="phase1").resolved().phase2_samples == 16 * 16  # n
    assert all(s.test_mse is not None for s in result.seeds)
    fresh = train.run(gd_spec())
    assert fresh.extra["phase2_samples"] == 1000 and fresh.extra["phase2_data"] == "fresh"
    assert [s.test_mse for s in fresh.seeds] != [s.test_mse for s in result.seeds]


def test_only_gd_keeps_a_set_to_refit():
    raw = gd_spec(data="phase1").model_dump(mode="json")
    raw["phase1"] = {"algorithm": "online", "stages": [{"samples": "4*d", "lr": "0.1/d"}]}
    with pytest.raises(pydantic.ValidationError) as error:
        spec.ExperimentSpec.model_validate(raw)
    assert "phase2.data 'phase1' needs phase1.algorithm gd" in str(error.value)


def test_the_default_keeps_the_hash_a_spec_had_before_the_field_existed():
    default = gd_spec()
    dump = default.model_dump(mode="json", exclude={"max_wall_s"})
    del dump["phase2"]["data"]
    assert default.spec_hash() == canonical_hash(dump)
    assert gd_spec(data="phase1").spec_hash() != default.spec_hash()
