"""Trace volume is bounded at submission: `eval.every: 1` on a large budget (5·10³ rows/s for one
experiment, ~115 GiB a day) is refused with a 422 on spec.eval.every, from a count of the
evaluation positions that never lists them; /validate shows the count as facts.trace_points."""

from __future__ import annotations


def _every_one(spec, samples: str) -> dict:
    spec["phase1"]["stages"][0]["samples"] = samples
    spec["eval"]["every"] = 1
    return {"spec": spec}


def test_every_sample_on_a_huge_budget_is_refused_naming_eval_every(client, spec):
    for url in ("/experiments/validate", "/experiments"):
        response = client.post(url, json=_every_one(spec, "1e12"))
        assert response.status_code == 422, response.text
        detail = response.json()["detail"][0]
        assert detail["loc"] == ["body", "spec", "eval", "every"], detail
        assert "SILAB_MAX_TRACE_POINTS" in detail["msg"]
    assert client.get("/experiments").json()["items"] == []


def test_the_count_is_shown_and_the_limit_is_a_setting(make_client, spec):
    small = make_client(max_trace_points=100)
    facts = small.post("/experiments/validate", json={"spec": spec}).json()["facts"]
    assert facts["trace_points"] == 2 * (5 + 1)  # seeds × (steps 0, 1, 4, 16, 64; Phase II)
    response = small.post("/experiments/validate", json=_every_one(spec, "64*d"))
    assert response.status_code == 422  # 2 × 512 positions
    assert make_client().post("/experiments/validate", json=_every_one(spec, "64*d")).is_success
