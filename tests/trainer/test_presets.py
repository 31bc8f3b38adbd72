"""Every packaged preset validates, its comment says where its numbers come from, and --set
overrides edit the raw spec the way the CLI documents."""

from __future__ import annotations

import math

import pytest

from trainer import presets
from trainer.spec import ExperimentSpec

REQUIRED = {"reference-reuse", "reference-online", "fig1a", "fig1b", "two-phase"}


def test_the_required_presets_are_packaged() -> None:
    assert set(presets.names()) >= REQUIRED


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_validates_and_says_where_its_numbers_come_from(name: str) -> None:
    spec = ExperimentSpec.model_validate(presets.load(name))
    assert spec.facts()["phase1_samples"] > 0
    assert len(presets.description(name)) > 40, "the leading comment documents the preset"


def test_reference_presets_match_science_md() -> None:
    reuse = ExperimentSpec.model_validate(presets.load("reference-reuse"))
    online = ExperimentSpec.model_validate(presets.load("reference-online"))
    for spec in (reuse, online):
        assert (spec.dtype, spec.seeds, spec.resolved().N, spec.resolved().B) == (
            "float64",
            32,
            1,
            1,
        )
        assert spec.target.coefficients() == {3: 1.0}
        assert spec.phase2 is None
    d = 64
    stage = reuse.resolved().stages[0]
    assert math.isclose(stage.inner_lr * d, 0.3)
    assert math.isclose(stage.lr, 0.05 / (d * math.log(d)))
    assert math.isclose(online.resolved().stages[0].lr, 0.5 / (d * math.log(d)))
    assert online.phase1.algorithm == "online" and reuse.phase1.algorithm == "reuse"


@pytest.mark.parametrize("name", presets.names())
@pytest.mark.parametrize("d", [16, 128, 512])
def test_presets_validate_across_dimensions(name: str, d: int) -> None:
    ExperimentSpec.model_validate(presets.apply_overrides(presets.load(name), [f"d={d}"]))


def test_overrides_parse_yaml_scalars() -> None:
    raw = presets.apply_overrides(
        presets.load("reference-reuse"),
        [
            "d=128",
            "seeds=4",
            "phase1.stages.0.lr=0.1/d",
            "phase1.stages.0.inner_lr=1e-3",
            "target.noise=0.25",
            "eval.every=null",
            "model.activation={hermite: {2: 1.0}}",
        ],
    )
    assert raw["d"] == 128 and raw["seeds"] == 4
    assert raw["phase1"]["stages"][0]["lr"] == "0.1/d"
    assert raw["phase1"]["stages"][0]["inner_lr"] == 1e-3
    assert raw["target"] == {"hermite": {3: 1.0}, "noise": 0.25}  # "h3" expanded
    assert raw["eval"]["every"] is None
    spec = ExperimentSpec.model_validate(raw)
    assert spec.resolved().stages[0].lr == pytest.approx(0.1 / 128)


def test_overrides_do_not_touch_the_original() -> None:
    original = presets.load("tiny")
    presets.apply_overrides(original, ["phase1.stages.0.lr=0.5"])
    assert original == presets.load("tiny")


def test_override_creates_a_phase2_from_null() -> None:
    raw = presets.apply_overrides(presets.load("reference-reuse"), ["phase2.samples=500"])
    assert ExperimentSpec.model_validate(raw).phase2.samples == 500


@pytest.mark.parametrize(
    "assignment, words",
    [
        ("noequals", "KEY.PATH=VALUE"),
        ("=3", "KEY.PATH=VALUE"),
        ("d.x=1", "'d'"),
        ("phase1.stages.5.lr=1", "phase1.stages.5"),
        ("phase1..lr=1", "empty part"),
        ("target.x=1", None),  # validation (not the path walk) rejects unknown names
    ],
)
def test_bad_override_paths_name_the_assignment(assignment: str, words: str | None) -> None:
    raw = presets.load("tiny")
    if words is None:
        with pytest.raises(ValueError, match="x"):
            ExperimentSpec.model_validate(presets.apply_overrides(raw, [assignment]))
        return
    with pytest.raises(ValueError, match="--set") as error:
        presets.apply_overrides(raw, [assignment])
    assert words in str(error.value)


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="reference-reuse"):
        presets.load_spec("preset:no-such-thing")
