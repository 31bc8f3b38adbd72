"""GET /experiments/{id}/trace: filters, downsampling that keeps the extremes, CSV."""

from __future__ import annotations

import csv
import io
import math

import pytest

from tests.trace_helpers import add_points


@pytest.fixture
def experiment_id(client, spec) -> int:
    return client.post("/experiments", json={"spec": spec}).json()["id"]


@pytest.fixture
def points(session, experiment_id) -> int:
    """3 seeds × 400 log-spaced Phase I points (noisy curves with a spike and a NULL) + Phase II."""
    fixture_points: list[dict] = []
    n = 400
    for seed in range(3):
        for i in range(n):
            step = round(10 ** (4 * i / (n - 1))) * 10 + i  # increasing, log-spaced
            m = 1 / (1 + math.exp(-(i - 200) / 30)) + 0.05 * math.sin(i * (seed + 1))
            mse = 1 - 0.9 * m + (0.7 if i == 123 + seed else 0.0)  # a spike to keep
            fixture_points.append(
                {
                    "experiment_id": experiment_id,
                    "attempt": 1,
                    "seed": seed,
                    "phase": "phase1",
                    "step": step,
                    "samples": step,
                    "mean_abs_m": m,
                    "test_mse": mse,
                    "train_loss": None if i == 5 else mse * 1.1,
                    "median_abs_m": m * 0.9,
                }
            )
        fixture_points.append(
            {
                "experiment_id": experiment_id,
                "attempt": 1,
                "seed": seed,
                "phase": "phase2",
                "step": 10**5,
                "samples": 10**5,
                "test_mse": 0.01,
            }
        )
    add_points(session, fixture_points)
    session.commit()
    return n


def test_everything_when_under_max_points(client, experiment_id, points):
    body = client.get(f"/experiments/{experiment_id}/trace", params={"max_points": 10_000}).json()
    assert body["total_points"] == 3 * (points + 1)
    assert len(body["points"]) == body["total_points"] and not body["downsampled"]
    assert body["metrics"] == [
        "mean_abs_m",
        "median_abs_m",
        "max_abs_m",
        "frac_m_05",
        "frac_m_09",
        "train_loss",
        "test_mse",
    ]
    keys = [(p["seed"], p["phase"], p["step"]) for p in body["points"]]
    assert keys == sorted(keys)


@pytest.mark.parametrize("max_points", [60, 200, 500])
def test_downsampling_keeps_each_seeds_min_and_max_within_budget(
    client, experiment_id, points, max_points
):
    full = client.get(
        f"/experiments/{experiment_id}/trace",
        params={"metrics": "mean_abs_m,test_mse", "phase": "phase1", "max_points": 100_000},
    ).json()["points"]
    body = client.get(
        f"/experiments/{experiment_id}/trace",
        params={"metrics": "mean_abs_m,test_mse", "phase": "phase1", "max_points": max_points},
    ).json()
    kept = body["points"]
    assert body["downsampled"] and body["total_points"] == 3 * points
    assert len(kept) <= max_points
    # The budget is used: these two metrics peak on the same points (test_mse ≈ 1 − 0.9·m), so a
    # fixed 2·metrics points per bucket would return about half of it.
    assert len(kept) >= 0.8 * max_points
    assert set(kept[0]["values"]) == {"mean_abs_m", "test_mse"}
    for seed in range(3):
        mine = [p for p in kept if p["seed"] == seed]
        every = [p for p in full if p["seed"] == seed]
        assert mine[0]["step"] == every[0]["step"] and mine[-1]["step"] == every[-1]["step"]
        steps = [p["step"] for p in mine]
        assert steps == sorted(set(steps))
        for metric in ("mean_abs_m", "test_mse"):
            values = [p["values"][metric] for p in mine]
            assert min(values) == min(p["values"][metric] for p in every)
            assert max(values) == max(p["values"][metric] for p in every)
        # kept points are real points, unchanged
        by_step = {p["step"]: p for p in every}
        assert all(by_step[p["step"]] == p for p in mine)
        # spread over the whole curve, not only its start
        assert len({p["step"] // 10_000 for p in mine}) > 3


def test_filters_seeds_phase_and_steps(client, experiment_id, points):
    body = client.get(
        f"/experiments/{experiment_id}/trace",
        params={
            "seeds": "0,2",
            "phase": "phase1",
            "step_min": 100,
            "step_max": 5000,
            "metrics": "train_loss",
            "max_points": 10_000,
        },
    ).json()
    assert {p["seed"] for p in body["points"]} == {0, 2}
    assert all(100 <= p["step"] <= 5000 and p["phase"] == "phase1" for p in body["points"])
    assert body["points"] and all(set(p["values"]) == {"train_loss"} for p in body["points"])
    phase2 = client.get(
        f"/experiments/{experiment_id}/trace", params={"phase": "phase2", "metrics": "test_mse"}
    ).json()["points"]
    assert [(p["seed"], p["values"]["test_mse"]) for p in phase2] == [
        (0, 0.01),
        (1, 0.01),
        (2, 0.01),
    ]


def test_csv_has_a_header_and_one_row_per_point(client, experiment_id, points):
    response = client.get(
        f"/experiments/{experiment_id}/trace",
        params={
            "format": "csv",
            "metrics": "mean_abs_m,train_loss",
            "seeds": "1",
            "max_points": 10_000,
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0] == ["seed", "phase", "step", "samples", "mean_abs_m", "train_loss"]
    assert len(table) == 1 + points + 1
    assert all(row[0] == "1" for row in table[1:])
    assert table[6][5] == ""  # the NULL train_loss at i = 5
    assert float(table[1][4]) == pytest.approx(1 / (1 + math.exp(200 / 30)) + 0.05 * math.sin(0))


def test_empty_trace_and_errors(client, experiment_id):
    body = client.get(f"/experiments/{experiment_id}/trace").json()
    assert body["points"] == [] and body["total_points"] == 0
    assert client.get("/experiments/999999/trace").status_code == 404
    bad = client.get(f"/experiments/{experiment_id}/trace", params={"metrics": "loss"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "metrics"]
    assert (
        client.get(f"/experiments/{experiment_id}/trace", params={"seeds": "a,b"}).status_code
        == 422
    )
    assert (
        client.get(f"/experiments/{experiment_id}/trace", params={"format": "xml"}).status_code
        == 422
    )


def test_columns_form_holds_the_same_points_as_arrays(client, experiment_id, points):
    params = {"metrics": "mean_abs_m,train_loss", "max_points": 10_000}
    rows = client.get(f"/experiments/{experiment_id}/trace", params=params).json()["points"]
    body = client.get(
        f"/experiments/{experiment_id}/trace", params=params | {"format": "columns"}
    ).json()
    assert body["total_points"] == len(rows) and not body["downsampled"]
    flat = [
        {
            "seed": s["seed"],
            "phase": s["phase"],
            "step": step,
            "samples": s["samples"][i],
            "values": {m: s["values"][m][i] for m in body["metrics"]},
        }
        for s in body["series"]
        for i, step in enumerate(s["step"])
    ]
    assert flat == rows
    assert any(p["values"]["train_loss"] is None for p in flat)  # not measured: null


def test_arrow_stream_reads_back_with_pyarrow(client, experiment_id, points):
    import pyarrow as pa

    response = client.get(
        f"/experiments/{experiment_id}/trace",
        params={"format": "arrow", "metrics": "test_mse,train_loss", "max_points": 10_000},
    )
    assert response.headers["content-type"].startswith("application/vnd.apache.arrow.stream")
    table = pa.ipc.open_stream(response.content).read_all()
    assert table.column_names == ["seed", "phase", "step", "samples", "test_mse", "train_loss"]
    assert table.num_rows == 3 * (points + 1)
    assert table.column("train_loss").null_count == 3 + 3  # the NULL of each seed, Phase II's
    phase2 = [r for r in table.to_pylist() if r["phase"] == "phase2"]
    assert [(r["seed"], r["test_mse"]) for r in phase2] == [(0, 0.01), (1, 0.01), (2, 0.01)]


def test_downsampled_csv_and_arrow_keep_the_json_points(client, experiment_id, points):
    import pyarrow as pa

    params = {"metrics": "mean_abs_m", "phase": "phase1", "max_points": 90}
    url = f"/experiments/{experiment_id}/trace"
    kept = client.get(url, params=params).json()["points"]
    table = pa.ipc.open_stream(client.get(url, params=params | {"format": "arrow"}).content)
    assert [(r["seed"], r["step"]) for r in table.read_all().to_pylist()] == [
        (p["seed"], p["step"]) for p in kept
    ]
    lines = client.get(url, params=params | {"format": "csv"}).text.splitlines()
    assert len(lines) == 1 + len(kept) < 1 + 3 * points


def test_unknown_metric_is_a_422_naming_the_field(client, experiment_id):
    response = client.get(f"/experiments/{experiment_id}/trace", params={"metrics": "nope"})
    assert response.status_code == 422 and "metrics" in response.text


def test_a_raw_json_fetch_is_streamed_and_counts_what_it_sends(client, experiment_id, points):
    """Nothing downsampled: the point-per-object JSON streams chunk by chunk (constant memory
    for 10^7 points, bench/trace_stream.py), totals written after the points."""
    url = f"/experiments/{experiment_id}/trace"
    whole = client.get(url, params={"max_points": 10_000}).json()
    cut = client.get(url, params={"max_points": 10_000, "step_min": 5000, "phase": "phase1"})
    assert cut.headers["content-type"].startswith("application/json")
    body = cut.json()
    expected = [p for p in whole["points"] if p["phase"] == "phase1" and p["step"] >= 5000]
    assert body["points"] == expected and body["total_points"] == len(expected)
    assert 0 < len(expected) < points * 3 and body["downsampled"] is False
    assert body["experiment_id"] == experiment_id and body["metrics"] == whole["metrics"]
