"""A spec's wall-clock limit (`max_wall_s`) is capped by the server's (SILAB_MAX_WALL_S): above
it, /validate, submit, a batch item and a sweep are refused with a 422 naming the field, and
nothing is stored; at or below it, or left out (the server's then applies), it is accepted."""

from __future__ import annotations

from sqlalchemy import func, select

from db.models import Experiment

CAP_S = 600.0


def _stored(session) -> int:
    return session.scalar(select(func.count()).select_from(Experiment)) or 0


def _refusal(response, loc):
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == loc, detail
    assert "SILAB_MAX_WALL_S" in detail["msg"] and f"{CAP_S:g} s" in detail["msg"]


def test_a_limit_above_the_servers_is_refused_naming_the_field(make_client, session, spec):
    client = make_client(max_wall_s=CAP_S)
    body = {"spec": {**spec, "max_wall_s": 2 * CAP_S}}
    for url in ("/experiments/validate", "/experiments"):
        _refusal(client.post(url, json=body), ["body", "spec", "max_wall_s"])
    items = [{"spec": spec}, {"spec": {**spec, "max_wall_s": 2 * CAP_S}}]
    response = client.post("/experiments:batch", json={"items": items})
    _refusal(response, ["body", "items", 1, "spec", "max_wall_s"])
    assert _stored(session) == 0


def test_a_sweep_whose_cell_asks_for_more_is_refused_naming_the_cell(make_client, session, spec):
    client = make_client(max_wall_s=CAP_S)
    sweep = {
        "name": "limits",
        "base": spec,
        "axes": [{"path": "max_wall_s", "values": [CAP_S, 2 * CAP_S]}],
    }
    response = client.post("/sweeps", json=sweep)
    _refusal(response, ["body", "base", "max_wall_s"])
    assert "cell 1 " in response.json()["detail"][0]["msg"]
    assert _stored(session) == 0


def test_a_limit_within_the_servers_or_none_is_accepted_and_stored_as_asked(
    make_client, session, spec
):
    client = make_client(max_wall_s=CAP_S)
    for asked in (CAP_S, 1.5, None):
        body = {"spec": spec if asked is None else {**spec, "max_wall_s": asked}}
        assert client.post("/experiments/validate", json=body).is_success
        created = client.post("/experiments", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["spec"]["max_wall_s"] == asked


def test_the_limit_does_not_change_the_spec_hash(client, spec):
    plain = client.post("/experiments/validate", json={"spec": spec}).json()
    limited = client.post("/experiments/validate", json={"spec": {**spec, "max_wall_s": 60}})
    assert limited.json()["spec_hash"] == plain["spec_hash"]
