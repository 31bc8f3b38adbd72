"""GET /sweeps/{id}/fair: the best step per (algorithm, d) by the KM median of held recovery, the
winning value, censored counts, and the scaling fit over the winners (or its refusal). Results
are written into the database directly, as a worker would leave them."""

from __future__ import annotations

import pytest
from test_sweeps import experiments_of, finish, post, seed

LRS = ["0.1/d", "0.01/d"]


def fair_sweep(client, session, spec, *, censor_online_at=None):
    """reuse recovers at 2·d with the large step and never with the small one; online at d²/4
    with the small step and at d² with the large one. With censor_online_at = D, every online
    seed at d = D is censored."""
    body = post(
        client,
        {
            "name": "fair",
            "base": spec,
            "axes": [
                {"path": "phase1.algorithm", "values": ["reuse", "online"]},
                {"path": "phase1.stages.0.lr", "values": LRS},
                {"path": "d", "values": [8, 16, 32]},
            ],
        },
    )
    for e in experiments_of(session, body["id"]):
        large = e.spec["phase1"]["stages"][0]["lr"] == LRS[0]
        if e.algorithm == "reuse":
            base = 2 * e.d if large else None
        else:
            base = e.d**2 if large else e.d**2 / 4
        if e.algorithm == "online" and e.d == censor_online_at:
            base = None
        times = [None if base is None else base * f for f in (0.8, 0.9, 1.0, 1.1, 1.2)]
        seeds = [seed(i, held_recovery_samples=t) for i, t in enumerate(times)]
        finish(session, e, seeds)
        e.result = {**e.result, "samples": 4 * e.d**2}
        session.commit()
    return body["id"]


def test_fair_picks_each_algorithms_best_step_and_fits_the_winners(client, session, spec):
    sweep_id = fair_sweep(client, session, spec)
    body = client.get(f"/sweeps/{sweep_id}/fair", params={"over": "phase1.stages.0.lr"}).json()
    winners = {(g["algorithm"], g["d"]): g["winner"] for g in body["groups"]}
    assert {w["value"] for (a, _), w in winners.items() if a == "reuse"} == {LRS[0]}
    assert {w["value"] for (a, _), w in winners.items() if a == "online"} == {LRS[1]}
    assert winners[("online", 16)]["km"]["median"] == pytest.approx(16**2 / 4)
    losing = [
        c
        for c in body["groups"][0]["candidates"]
        if c["value"] != body["groups"][0]["winner"]["value"]
    ]
    assert losing and all(c["km"]["n"] == 5 for c in losing)
    fits = {f["algorithm"]: f for f in body["fits"]}
    assert fits["reuse"]["fit"]["b"] == pytest.approx(1.0)
    assert fits["online"]["fit"]["b"] == pytest.approx(2.0)
    low, high = fits["online"]["fit"]["ci95"]
    assert low <= 2.0 <= high and fits["online"]["censored"] == 0


def test_fair_refuses_a_line_whose_median_is_censored_and_counts_the_censored(
    client, session, spec
):
    sweep_id = fair_sweep(client, session, spec, censor_online_at=32)
    body = client.get(f"/sweeps/{sweep_id}/fair", params={"over": "phase1.stages.0.lr"}).json()
    online = next(f for f in body["fits"] if f["algorithm"] == "online")
    assert online["fit"] is None and "d = 32: the median is censored" in online["refused"]
    assert online["censored"] == 5
    narrowed = client.get(
        f"/sweeps/{sweep_id}/fair", params={"over": "phase1.stages.0.lr", "d_max": 16}
    ).json()
    online = next(f for f in narrowed["fits"] if f["algorithm"] == "online")
    assert online["fit"]["b"] == pytest.approx(2.0)


def test_fair_names_the_bad_field(client, session, spec):
    sweep_id = fair_sweep(client, session, spec)
    response = client.get(f"/sweeps/{sweep_id}/fair", params={"over": "model.width"})
    assert response.status_code == 422 and "over" in response.text
    response = client.get(f"/sweeps/{sweep_id}/fair", params={"over": "d", "statistic": "fastest"})
    assert response.status_code == 422 and "statistic" in response.text
