"""to_pandas() / to_polars() on the client's answers (the `frames` extra)."""

from __future__ import annotations

import pytest

from client.frames import Aggregate, AggregateTrace, Experiment, Experiments, Trace, flatten

pd = pytest.importorskip("pandas", reason="the frames extra (scripts/setup installs it)")
pl = pytest.importorskip("polars", reason="the frames extra (scripts/setup installs it)")

TRACE = Trace(
    experiment_id=7,
    metrics=["mean_abs_m"],
    points=[
        {"seed": s, "phase": "phase1", "step": t, "samples": 8 * t, "values": {"mean_abs_m": t / 4}}
        for s in (0, 1)
        for t in (1, 2, 3)
    ],
)


def test_a_trace_is_a_row_per_point_and_a_column_per_metric() -> None:
    frame = TRACE.to_pandas()
    assert list(frame.columns) == [
        "experiment_id",
        "seed",
        "phase",
        "step",
        "samples",
        "mean_abs_m",
    ]
    assert len(frame) == 6 and frame.groupby("seed")["mean_abs_m"].max().tolist() == [0.75, 0.75]
    assert TRACE.to_polars().shape == (6, 6)
    assert TRACE["experiment_id"] == 7  # still the API's JSON


def test_an_experiment_is_a_row_per_seed() -> None:
    experiment = Experiment(
        id=3, result={"seeds": [{"seed": 0, "test_mse": 0.1}, {"seed": 1, "test_mse": 0.3}]}
    )
    assert experiment.to_pandas()["test_mse"].mean() == pytest.approx(0.2)


def test_experiments_flatten_the_spec() -> None:
    rows = Experiments(
        [
            {
                "id": 1,
                "tags": ["a", "b"],
                "spec": {"d": 16, "phase1": {"algorithm": "reuse"}},
                "result": {},
            }
        ]
    )
    frame = rows.to_polars()
    assert frame["spec.phase1.algorithm"].to_list() == ["reuse"] and frame["tags"].to_list() == [
        "a,b"
    ]


def test_an_aggregate_is_a_row_per_cell_with_field_stat_columns() -> None:
    aggregate = Aggregate(
        axes=["d"],
        cells=[{"d": 16, "seeds": 4, "experiment_ids": [1, 2], "test_mse": {"mean": 0.2, "n": 4}}],
    )
    frame = aggregate.to_pandas()
    assert frame.loc[0, "test_mse.mean"] == 0.2 and frame.loc[0, "experiment_ids"] == "1,2"
    per_point = AggregateTrace(
        axes=["d"], metric="m", cells=[{"d": 16, "points": [{"step": 1, "mean": 0.5}]}]
    ).to_polars()
    assert per_point.row(0, named=True) == {"d": 16, "metric": "m", "step": 1, "mean": 0.5}


def test_flatten_keeps_lists_and_dots_paths() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "e": {}}) == {"a.b": 1, "a.c": [1, 2], "e": {}}
