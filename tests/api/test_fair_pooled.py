"""GET /sweeps/{id}/fair?with=OTHER: the same grid submitted again at a larger d (a later sweep)
joins the first one's cells in one fit."""

from __future__ import annotations

import pytest
from test_fair import LRS
from test_sweeps import experiments_of, finish, post, seed


def grid(client, session, spec, ds):
    """reuse recovers at 2·d with the large step, never with the small one (test_fair's rule)."""
    body = post(
        client,
        {
            "name": f"grid {ds}",
            "base": spec,
            "axes": [
                {"path": "phase1.algorithm", "values": ["reuse"]},
                {"path": "phase1.stages.0.lr", "values": LRS},
                {"path": "d", "values": ds},
            ],
        },
    )
    for e in experiments_of(session, body["id"]):
        base = 2 * e.d if e.spec["phase1"]["stages"][0]["lr"] == LRS[0] else None
        times = [None if base is None else base * f for f in (0.8, 0.9, 1.0, 1.1, 1.2)]
        finish(session, e, [seed(i, held_recovery_samples=t) for i, t in enumerate(times)])
        e.result = {**e.result, "samples": 4 * e.d**2}
        session.commit()
    return body["id"]


def test_a_later_sweep_of_the_same_grid_joins_the_fit(client, session, spec):
    small, large = grid(client, session, spec, [8, 16]), grid(client, session, spec, [32])
    params = {"over": "phase1.stages.0.lr", "with": large}
    body = client.get(f"/sweeps/{small}/fair", params=params).json()
    assert body["with"] == [large]
    assert sorted(g["d"] for g in body["groups"]) == [8, 16, 32]
    fit = body["fits"][0]["fit"]
    assert fit["d"] == [8, 16, 32] and fit["b"] == pytest.approx(1.0)
    alone = client.get(f"/sweeps/{small}/fair", params={"over": "phase1.stages.0.lr"}).json()
    assert alone["fits"][0]["fit"]["d"] == [8, 16]


def test_with_names_a_missing_sweep_or_one_of_other_axes(client, session, spec):
    small = grid(client, session, spec, [8, 16])
    other = post(client, {"name": "o", "base": spec, "axes": [{"path": "d", "values": [8]}]})
    for bad, text in ((424242, "sweep 424242 not found"), (other["id"], "has the axes")):
        response = client.get(
            f"/sweeps/{small}/fair", params={"over": "phase1.stages.0.lr", "with": bad}
        )
        assert response.status_code == 422 and "with" in response.text and text in response.text
