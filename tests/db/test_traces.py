"""The trace store: chunks written whole, reopened on resume, read back in order."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from db import tracecodec, traces

C = traces.CHUNK_POINTS


def _emit(chunks: traces.OpenChunks, steps: range, seeds=(0, 1)) -> None:
    for step in steps:
        chunks.add(
            phase="phase1",
            step=step,
            samples=8 * step,
            seeds=list(seeds),
            metrics={
                "mean_abs_m": [math.sin(step + s) for s in seeds],
                "test_mse": [None if step % 3 else 1.0 / (1 + step) for s in seeds],
            },
        )


def _flush(session: Session, experiment_id: int, chunks: traces.OpenChunks, attempt=1) -> None:
    rows = chunks.take()
    traces.upsert(experiment_id, session=session, attempt=attempt, rows=rows)
    session.commit()
    chunks.written(rows)


def _steps(session: Session, experiment_id: int) -> list[tuple[int, int]]:
    return [
        (p["seed"], p["step"]) for p in traces.points(session=session, experiment_id=experiment_id)
    ]


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=20),
        st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=5, max_size=5),
        max_size=4,
    ),
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=5, max_size=5),
)
def test_codec_round_trips_bit_for_bit(floats: dict, ints: list) -> None:
    columns = {"step": np.array(ints, dtype=np.int64)}
    columns |= {name: np.array(values) for name, values in floats.items() if name != "step"}
    decoded = tracecodec.decode(tracecodec.encode(columns))
    assert list(decoded) == list(columns)
    for name, values in columns.items():
        assert decoded[name].dtype == (np.int64 if name == "step" else np.float64)
        assert decoded[name].tobytes() == values.tobytes()


def test_codec_refuses_other_bytes() -> None:
    with pytest.raises(ValueError, match="not a trace block"):
        tracecodec.decode(b"PK\x03\x04" + bytes(20))


def test_flushes_rewrite_whole_chunks_and_forget_full_ones(session, make_experiment) -> None:
    experiment_id = make_experiment()
    chunks = traces.OpenChunks()
    _emit(chunks, range(C - 3))
    _flush(session, experiment_id, chunks)
    _emit(chunks, range(C - 3, C + 10))  # fills chunk 0, opens chunk 1
    rows = chunks.take()
    assert sorted((r.seed, r.chunk, r.points) for r in rows) == [
        (0, 0, C),
        (0, 1, 10),
        (1, 0, C),
        (1, 1, 10),
    ]
    traces.upsert(experiment_id, session=session, attempt=1, rows=rows)
    traces.upsert(experiment_id, session=session, attempt=1, rows=rows)  # a redelivered flush
    session.commit()
    chunks.written(rows)
    assert not chunks.pending
    _emit(chunks, range(C + 10, C + 12))
    assert sorted((r.seed, r.chunk) for r in chunks.take()) == [(0, 1), (1, 1)]  # full: gone
    stored = _steps(session, experiment_id)
    assert stored == [(s, step) for s in (0, 1) for step in range(C + 10)]


def test_a_failed_flush_is_written_next_time(session, make_experiment) -> None:
    experiment_id = make_experiment()
    chunks = traces.OpenChunks()
    _emit(chunks, range(5))
    lost = chunks.take()
    chunks.failed(lost)  # the transaction did not commit
    _emit(chunks, range(5, 7))
    _flush(session, experiment_id, chunks)
    assert len(_steps(session, experiment_id)) == 2 * 7


def test_resume_keeps_points_up_to_the_checkpoint_and_adds_each_once(
    session, make_experiment
) -> None:
    experiment_id = make_experiment()
    first = traces.OpenChunks()
    _emit(first, range(C + 50))
    _flush(session, experiment_id, first)
    _emit(first, range(C + 50, C + 80))  # flushed after the checkpoint at C + 60, then killed
    _flush(session, experiment_id, first)

    second = traces.OpenChunks()
    second.reload(session=session, experiment_id=experiment_id, upto_step=C + 60)
    session.commit()
    _emit(second, range(C + 61, C + 70))  # fewer points than stored so far: the stored ones stay
    _flush(session, experiment_id, second, attempt=2)
    assert len(_steps(session, experiment_id)) == 2 * (C + 80)
    _emit(second, range(C + 70, 2 * C + 5))
    _flush(session, experiment_id, second, attempt=2)
    expected = [(s, step) for s in (0, 1) for step in range(2 * C + 5)]
    assert _steps(session, experiment_id) == expected
    values = traces.read_series(session=session, experiment_ids=[experiment_id], seeds=[1])
    assert len(values) == 1 and values[0].columns["mean_abs_m"][7] == math.sin(8)


def test_read_filters_by_seed_phase_and_step_across_chunks(session, make_experiment) -> None:
    experiment_id = make_experiment()
    chunks = traces.OpenChunks()
    _emit(chunks, range(2 * C + 1))
    _flush(session, experiment_id, chunks)
    [series] = traces.read_series(
        session=session,
        experiment_ids=[experiment_id],
        names=["test_mse", "nope"],
        seeds=[1],
        phase="phase1",
        step_min=C - 2,
        step_max=C + 3,
    )
    assert series.seed == 1 and series.columns["step"].tolist() == list(range(C - 2, C + 4))
    assert list(series.columns) == ["step", "samples", "test_mse", "nope"]
    assert np.isnan(series.columns["nope"]).all()
    assert traces.count_points(session=session, experiment_id=experiment_id) == 2 * (2 * C + 1)
