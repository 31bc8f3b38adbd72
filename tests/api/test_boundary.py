"""GET /sweeps/{id}/boundary: per (target, algorithm, d) the total sample count at which the median
test error first reaches a level, and the scaling law of that boundary over d. Results are
written into the database directly, as a worker would leave them."""

from __future__ import annotations

import pytest
from test_sweeps import experiments_of, finish, post, seed

N_OVER_D = ["1*d", "4*d", "16*d", "64*d", "256*d"]
SPREAD = (0.8, 0.9, 1.0, 1.1, 1.2)  # the seeds of a cell scatter around its median


def boundary_sweep(client, session, spec, *, error, field="test_mse"):
    """reuse and online at d = 8, 16, 32 over total samples n ∈ N_OVER_D (half in Phase I, half
    in Phase II). Each seed's `field` is error(algorithm, d, n) times its SPREAD factor."""
    body = post(
        client,
        {
            "name": "generalization",
            "base": spec,
            "axes": [
                {"path": "phase1.algorithm", "values": ["reuse", "online"]},
                {"path": "d", "values": [8, 16, 32]},
                {"path": "phase1.stages.0.samples", "values": N_OVER_D},
            ],
        },
    )
    for e in experiments_of(session, body["id"]):
        n = int(e.spec["phase1"]["stages"][0]["samples"].split("*")[0]) * e.d
        base = error(e.algorithm, e.d, n)
        seeds = [
            seed(i, **{field: None if base is None else base * f}) for i, f in enumerate(SPREAD)
        ]
        finish(session, e, seeds)
        e.result = {
            **e.result,
            "samples": n // 2,
            "steps": n // 2,
            "extra": {"phase2_samples": n // 2},
        }
        session.commit()
    return body["id"]


def power_law(algorithm, d, n):
    """test MSE = B/n with B = d (reuse) or d² (online): the level 0.5 is reached at n = 2B."""
    return (d if algorithm == "reuse" else d * d) / n


def test_boundary_interpolates_the_crossing_and_fits_its_scaling(client, session, spec):
    sweep_id = boundary_sweep(client, session, spec, error=power_law)
    body = client.get(f"/sweeps/{sweep_id}/boundary", params={"level": 0.5}).json()
    assert body["better"] == "lower" and body["x"] == "total_samples"
    at = {(g["algorithm"], g["d"]): g["boundary"] for g in body["groups"]}
    for d in (8, 16, 32):
        assert at[("reuse", d)] == pytest.approx(2 * d)
        assert at[("online", d)] == pytest.approx(2 * d * d)
    cells = body["groups"][0]["cells"]
    assert [c["seeds"] for c in cells] == [5] * len(N_OVER_D)
    assert [c["x"] for c in cells] == sorted(c["x"] for c in cells)
    fits = {f["algorithm"]: f["fit"] for f in body["fits"]}
    assert fits["reuse"]["b"] == pytest.approx(1.0)
    assert fits["online"]["b"] == pytest.approx(2.0)
    low, high = fits["online"]["ci95"]
    assert low <= 2.0 <= high and low > 1.0


def test_a_line_without_a_boundary_is_a_bound_and_its_fit_is_refused(client, session, spec):
    def never_at_32(algorithm, d, n):
        return 1.0 if (algorithm, d) == ("online", 32) else power_law(algorithm, d, n)

    sweep_id = boundary_sweep(client, session, spec, error=never_at_32)
    body = client.get(f"/sweeps/{sweep_id}/boundary", params={"level": 0.5}).json()
    online_32 = next(g for g in body["groups"] if (g["algorithm"], g["d"]) == ("online", 32))
    assert online_32["boundary"] is None
    assert online_32["no_boundary"] == f"not reached by the largest x = {256 * 32:g}"
    online = next(f for f in body["fits"] if f["algorithm"] == "online")
    assert online["fit"] is None and online["refused"].startswith("d = 32: not reached")
    easy = client.get(f"/sweeps/{sweep_id}/boundary", params={"level": 2.0, "d_max": 16}).json()
    reuse = next(f for f in easy["fits"] if f["algorithm"] == "reuse")
    assert reuse["fit"] is None and "reached already at the smallest x" in reuse["refused"]


def test_a_seed_without_a_value_counts_as_the_worst(client, session, spec):
    """Diverged seeds (no test error) cannot make a cell look better: with every seed missing,
    no cell reaches the level."""
    sweep_id = boundary_sweep(client, session, spec, error=lambda *_: None)
    body = client.get(f"/sweeps/{sweep_id}/boundary", params={"level": 0.5}).json()
    assert all(g["boundary"] is None for g in body["groups"])


def test_an_overlap_boundary_is_where_it_rises_to_the_level(client, session, spec):
    def overlap(algorithm, d, n):
        return min(1.0, 0.25 * n / (d if algorithm == "reuse" else d * d))

    sweep_id = boundary_sweep(client, session, spec, error=overlap, field="final_median_abs_m")
    body = client.get(
        f"/sweeps/{sweep_id}/boundary",
        params={"level": 0.5, "field": "final_median_abs_m", "x": "samples"},
    ).json()
    assert body["better"] == "higher"
    at = {(g["algorithm"], g["d"]): g["boundary"] for g in body["groups"]}
    # 0.25·n/d reaches 0.5 at n = 2d (total), i.e. d Phase I samples; linear in the overlap
    # between the cells at n = d and 4d, on a log x axis
    assert 0.5 * 8 < at[("reuse", 8)] < 2 * 8


def test_boundary_names_the_bad_parameter(client, session, spec):
    sweep_id = boundary_sweep(client, session, spec, error=power_law)
    for params, name in (
        ({"level": 0.5, "field": "loss"}, "field"),
        ({"level": 0.5, "x": "epochs"}, "x"),
        ({"level": "nan"}, "level"),
        ({}, "level"),
    ):
        response = client.get(f"/sweeps/{sweep_id}/boundary", params=params)
        assert response.status_code == 422, params
        assert name in response.text, response.text
