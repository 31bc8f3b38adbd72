"""Sweeps through the API on SQLite and PostgreSQL: deterministic expansion, idempotent resubmit,
cancel, progress, aggregation checked against hand-computed numbers, CSV, the scaling fit and the
plot routes. Results are written into the database directly, as a worker would leave them."""

from __future__ import annotations

import csv
import io
import json
import math
import tracemalloc

import pytest
from sqlalchemy import select

from api.expand import ExpansionError, axis_values, cells, expand
from db.models import Experiment, Sweep
from tests.trace_helpers import add_points

T_975_DF2 = 4.302652729911275  # Student's t, 97.5% quantile, 2 degrees of freedom


def sweep_body(spec, **extra):
    return {
        "name": "grid",
        "base": spec,
        "axes": [
            {"path": "d", "values": [8, 16]},
            {"path": "phase1.stages.0.samples", "values": ["8*d", "16*d"]},
        ],
        **extra,
    }


def post(client, body, code=201):
    response = client.post("/sweeps", json=body)
    assert response.status_code == code, response.text
    return response.json()


def experiments_of(session, sweep_id):
    return list(
        session.scalars(
            select(Experiment).where(Experiment.sweep_id == sweep_id).order_by(Experiment.id)
        )
    )


def finish(session, experiment, seeds, *, status="completed"):
    """Store a result as the worker's finish would: per-seed results in result['seeds']."""
    experiment.status = status
    experiment.result = {"status": status, "seeds": seeds}
    session.commit()


def seed(seed_id, **values):
    row = {
        "seed": seed_id,
        "weak_recovery_samples": None,
        "final_mean_abs_m": None,
        "final_median_abs_m": None,
        "final_max_abs_m": None,
        "final_frac_m_09": None,
        "test_mse": None,
        "weak_recovery_step": None,
    }
    row.update(values)
    return row


# ------------------------------------------------------------------------------- expansion
def test_ranges_and_zip_expand_in_a_fixed_order():
    assert axis_values({"start": 16, "stop": 128, "num": 4, "scale": "log2"}) == [16, 32, 64, 128]
    assert axis_values({"start": 0.0, "stop": 1.0, "num": 3}) == [0.0, 0.5, 1.0]
    assert axis_values({"start": 1, "stop": 2, "num": 3, "scale": "log2"})[1] == 2**0.5
    grid = list(
        cells(
            [
                {"path": "d", "values": [16, 32]},
                {
                    "zip": [
                        {"path": "phase1.algorithm", "values": ["reuse", "online"]},
                        {"path": "phase1.stages.0.lr", "values": [0.1, 0.5]},
                    ]
                },
            ]
        )
    )
    assert grid == [
        {"d": 16, "phase1.algorithm": "reuse", "phase1.stages.0.lr": 0.1},
        {"d": 16, "phase1.algorithm": "online", "phase1.stages.0.lr": 0.5},
        {"d": 32, "phase1.algorithm": "reuse", "phase1.stages.0.lr": 0.1},
        {"d": 32, "phase1.algorithm": "online", "phase1.stages.0.lr": 0.5},
    ]
    with pytest.raises(ValueError, match="different numbers"):
        list(cells([{"zip": [{"path": "d", "values": [1, 2]}, {"path": "seeds", "values": [1]}]}]))


def test_a_grid_over_the_cap_is_refused_from_its_cell_count_before_any_cell_is_built(client, spec):
    """Three 1000-value ranges (a 507-byte body) are 10⁹ cells: refused with a 422 from the
    product of the axis lengths, in constant memory (building them took 3.6 GiB and a 500)."""
    axes = [
        {"path": path, "start": 1, "stop": 1000, "num": 1000}
        for path in ("d", "model.width", "phase2.samples")
    ]
    tracemalloc.start()
    try:
        with pytest.raises(ExpansionError, match="1000000000 cells"):
            expand({"base": spec, "axes": axes})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20, peak  # the three axes' values, not 10⁹ cells
    response = client.post("/sweeps", json={"base": spec, "axes": axes})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "axes"]


def test_expand_sets_paths_splits_seeds_and_is_deterministic(spec):
    definition = {
        "base": spec,
        "axes": [
            {"path": "target", "values": ["h3", "h4"]},
            {"path": "target.noise", "values": [0.0, 0.1]},
        ],
        "seeds": 5,
        "seeds_per_experiment": 2,
    }
    first, second = expand(definition), expand(definition)
    assert [(p.cell_key, p.spec.spec_hash()) for p in first] == [
        (p.cell_key, p.spec.spec_hash()) for p in second
    ]
    assert len(first) == 4 * 3  # 4 cells, seeds 0-1, 2-3, 4
    assert [p.spec.seeds for p in first[:3]] == [[0, 1], [2, 3], [4]]
    assert first[0].cell_key == '{"target":"h3","target.noise":0.0}'
    assert first[3].spec.target.noise == 0.1 and first[3].spec.target.hermite == {3: 1.0}
    with pytest.raises(ExpansionError, match="cell 0"):
        expand({"base": spec, "axes": [{"path": "d", "values": [-1]}]})


# ------------------------------------------------------------------------------ submission
def test_submit_expands_into_experiments_with_cell_keys(client, session, spec):
    body = post(client, sweep_body(spec, tags=["fig"]))
    assert body["cells"] == 4 and body["experiments_total"] == 4
    assert body["axes"] == ["d", "phase1.stages.0.samples"]
    assert body["progress"]["queued"] == 4 and body["status"] == "queued"
    rows = experiments_of(session, body["id"])
    assert [json.loads(e.cell_key) for e in rows] == [
        {"d": 8, "phase1.stages.0.samples": "8*d"},
        {"d": 8, "phase1.stages.0.samples": "16*d"},
        {"d": 16, "phase1.stages.0.samples": "8*d"},
        {"d": 16, "phase1.stages.0.samples": "16*d"},
    ]
    assert [e.d for e in rows] == [8, 8, 16, 16]
    assert [e.samples_total for e in rows] == [64, 128, 128, 256]
    assert all(e.tag_names == ["fig"] for e in rows)
    # one worker slot (SILAB_WORKER_SLOTS=1): the fair dispatcher sends one, the rest wait
    assert client.app.state.dispatch.round() == [rows[0].id, rows[1].id]
    session.expire_all()
    # one slot: the first group, the two d = 8 cells (one shape key), runs fused
    assert [e.dispatched_at is not None for e in rows] == [True, True, False, False]
    assert rows[0].shape_key == rows[1].shape_key != rows[2].shape_key
    listed = client.get(f"/sweeps/{body['id']}/experiments").json()["items"]
    assert [e["id"] for e in listed] == [e.id for e in rows]


def test_own_only_visibility_hides_others_sweeps(make_client, spec):
    alice = make_client(experiments_visible="own")
    bob = make_client(user="bob", experiments_visible="own")
    root = make_client(user="root", experiments_visible="own")
    ident = post(alice, sweep_body(spec))["id"]
    assert bob.get(f"/sweeps/{ident}").status_code == 404
    assert bob.get(f"/sweeps/{ident}/experiments").status_code == 404
    assert bob.get(f"/sweeps/{ident}/aggregate").status_code == 404
    assert bob.get("/sweeps").json()["items"] == []
    assert bob.get("/sweeps", params={"owner": "alice"}).json()["items"] == []
    assert [s["id"] for s in alice.get("/sweeps").json()["items"]] == [ident]
    assert root.get(f"/sweeps/{ident}").status_code == 200


def test_resubmitting_the_same_sweep_creates_nothing(client, make_client, session, spec):
    first = post(client, sweep_body(spec))
    again = client.post("/sweeps", json=sweep_body(spec, name="another name", priority=5))
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert again.headers["location"] == f"/sweeps/{first['id']}"
    assert len(session.scalars(select(Experiment)).all()) == 4
    assert len(session.scalars(select(Sweep)).all()) == 1
    # A different axis, or the same sweep by another owner, is a new sweep.
    other = sweep_body(spec)
    other["axes"][0]["values"] = [8, 32]
    assert post(client, other)["id"] != first["id"]
    by_bob = make_client(user="bob").post("/sweeps", json=sweep_body(spec))
    assert by_bob.status_code == 201


def test_an_invalid_cell_stores_nothing(client, session, spec):
    body = sweep_body(spec)
    body["axes"][0]["values"] = [8, 0]
    response = client.post("/sweeps", json=body)
    assert response.status_code == 422
    assert "cell 2" in response.text and "d" in response.text
    bad_path = sweep_body(spec)
    bad_path["axes"] = [{"path": "phase1.nonsense", "values": [1]}]
    assert client.post("/sweeps", json=bad_path).status_code == 422
    both = sweep_body(spec)
    both["axes"] = [{"path": "d", "values": [8], "start": 1, "stop": 2, "num": 2}]
    assert client.post("/sweeps", json=both).status_code == 422
    assert session.scalars(select(Experiment)).all() == []
    assert session.scalars(select(Sweep)).all() == []


def test_axes_as_a_mapping_and_log2_ranges(client, session, spec):
    body = post(
        client,
        {
            "base": spec,
            "axes": {
                "d": {"start": 8, "stop": 32, "num": 3, "scale": "log2"},
                "target": ["h3", "h4"],
            },
        },
    )
    assert body["axes"] == ["d", "target"] and body["cells"] == 6
    assert [e.d for e in experiments_of(session, body["id"])] == [8, 8, 16, 16, 32, 32]


# -------------------------------------------------------------------------- cancel, progress
def test_progress_and_cancel(client, session, spec):
    body = post(client, sweep_body(spec))
    rows = experiments_of(session, body["id"])
    rows[0].status = "running"
    finish(session, rows[1], [seed(0), seed(1)])
    shown = client.get(f"/sweeps/{body['id']}").json()
    assert shown["status"] == "running"
    assert {k: v for k, v in shown["progress"].items() if v} == {
        "queued": 2,
        "running": 1,
        "completed": 1,
    }
    cancelled = client.post(f"/sweeps/{body['id']}/cancel").json()
    assert cancelled["cancel_requested"] is True
    assert {k: v for k, v in cancelled["progress"].items() if v} == {
        "cancelled": 2,
        "running": 1,
        "completed": 1,
    }
    session.expire_all()
    assert experiments_of(session, body["id"])[0].cancel_requested is True
    rows = experiments_of(session, body["id"])
    rows[0].status = "cancelled"
    session.commit()
    assert client.get(f"/sweeps/{body['id']}").json()["status"] == "cancelled"
    assert client.post(f"/sweeps/{body['id']}/cancel").status_code == 200
    assert client.post("/sweeps/999999/cancel").status_code == 404
    listed = client.get("/sweeps").json()
    assert [s["id"] for s in listed["items"]] == [body["id"]]
    assert listed["items"][0]["progress"]["completed"] == 1


def test_list_pages(client, spec):
    ids = [
        post(client, {"name": f"s{i}", "base": spec, "axes": [{"path": "d", "values": [8 + i]}]})[
            "id"
        ]
        for i in range(3)
    ]
    page = client.get("/sweeps?limit=2").json()
    assert [s["id"] for s in page["items"]] == ids[::-1][:2]
    rest = client.get(f"/sweeps?limit=2&cursor={page['next_cursor']}").json()
    assert [s["id"] for s in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    assert [s["name"] for s in client.get("/sweeps?name=S1").json()["items"]] == ["s1"]


# ------------------------------------------------------------------------------ aggregation
def two_part_sweep(client, session, spec):
    """d ∈ {8, 16}; 3 seeds per cell split 2 + 1 over two experiments. Cell d=8:
    test_mse 0.1, 0.3 | 0.2 and weak recovery 100, None | 300. Cell d=16 not finished."""
    body = post(
        client,
        {
            "name": "agg",
            "base": spec,
            "axes": [{"path": "d", "values": [8, 16]}],
            "seeds": 3,
            "seeds_per_experiment": 2,
        },
    )
    rows = experiments_of(session, body["id"])
    assert [e.seeds for e in rows] == [2, 1, 2, 1]
    finish(
        session, rows[0], [seed(0, test_mse=0.1, weak_recovery_samples=100), seed(1, test_mse=0.3)]
    )
    finish(session, rows[1], [seed(2, test_mse=0.2, weak_recovery_samples=300)])
    return body["id"], rows


def test_aggregate_pools_experiments_that_differ_only_in_seed(client, session, spec):
    sweep_id, _ = two_part_sweep(client, session, spec)
    body = client.get(f"/sweeps/{sweep_id}/aggregate").json()
    first, second = body["cells"]
    assert first["d"] == 8 and first["experiments"] == 2 and first["seeds"] == 3
    mse = first["test_mse"]
    assert mse["n"] == 3 and mse["n_missing"] == 0
    assert mse["mean"] == pytest.approx(0.2)
    assert mse["std"] == pytest.approx(0.1)
    half = T_975_DF2 * 0.1 / math.sqrt(3)
    assert mse["ci95_low"] == pytest.approx(0.2 - half)
    assert mse["ci95_high"] == pytest.approx(0.2 + half)
    recovery = first["weak_recovery_samples"]
    assert (recovery["mean"], recovery["n"], recovery["n_missing"]) == (200.0, 2, 1)
    assert first["recovered"]["mean"] == pytest.approx(2 / 3)
    assert second["d"] == 16 and second["seeds"] == 0 and second["test_mse"]["n"] == 0
    assert second["statuses"] == {"queued": 2}


def test_aggregate_csv(client, session, spec):
    sweep_id, _ = two_part_sweep(client, session, spec)
    response = client.get(
        f"/sweeps/{sweep_id}/aggregate", params={"format": "csv", "fields": "test_mse,recovered"}
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0])[:4] == ["d", "cell_key", "experiments", "seeds"]
    assert float(rows[0]["test_mse.mean"]) == pytest.approx(0.2)
    assert float(rows[0]["test_mse.ci95_high"]) == pytest.approx(
        0.2 + T_975_DF2 * 0.1 / math.sqrt(3)
    )
    assert rows[0]["test_mse.n"] == "3" and rows[1]["test_mse.mean"] == ""
    assert client.get(f"/sweeps/{sweep_id}/aggregate?fields=nope").status_code == 422
    only = client.get(f"/sweeps/{sweep_id}/aggregate", params={"where": "d=16"}).json()
    assert [c["d"] for c in only["cells"]] == [16]


def add_trace(session, experiment_id, seed_id, values, phase="phase1"):
    fixture_points: list[dict] = []
    for step, value in enumerate(values, start=1):
        fixture_points.append(
            {
                "experiment_id": experiment_id,
                "attempt": 1,
                "seed": seed_id,
                "phase": phase,
                "step": step,
                "samples": 10 * step,
                "median_abs_m": value,
                "test_mse": 1.0 - value,
            }
        )
    add_points(session, fixture_points)
    session.commit()


def test_aggregate_trace_per_evaluation_point(client, session, spec):
    sweep_id, rows = two_part_sweep(client, session, spec)
    add_trace(session, rows[0].id, 0, [0.1, 0.5])
    add_trace(session, rows[0].id, 1, [0.2, 0.6])
    add_trace(session, rows[1].id, 2, [0.3, 0.7])
    body = client.get(f"/sweeps/{sweep_id}/aggregate/trace?metric=median_abs_m").json()
    points = body["cells"][0]["points"]
    assert [(p["step"], p["samples"], p["n"]) for p in points] == [(1, 10, 3), (2, 20, 3)]
    assert points[0]["mean"] == pytest.approx(0.2) and points[1]["mean"] == pytest.approx(0.6)
    assert points[1]["std"] == pytest.approx(0.1)
    assert points[1]["ci95_low"] == pytest.approx(0.6 - T_975_DF2 * 0.1 / math.sqrt(3))
    assert body["cells"][1]["points"] == []
    text = client.get(
        f"/sweeps/{sweep_id}/aggregate/trace", params={"metric": "test_mse", "format": "csv"}
    ).text
    lines = text.splitlines()
    assert lines[0] == "d,phase,step,samples,mean,std,ci95_low,ci95_high,n,n_missing,median"
    assert lines[1].startswith("8,phase1,1,10,0.8")
    assert client.get(f"/sweeps/{sweep_id}/aggregate/trace?metric=bogus").status_code == 422


def scaling_sweep(client, session, spec):
    """d ∈ {8, 16, 32}, two algorithms; reuse recovers at 2·d (exponent 1), online at d²/4
    (exponent 2); one online seed never recovers."""
    body = post(
        client,
        {
            "name": "law",
            "base": spec,
            "axes": [
                {"path": "phase1.algorithm", "values": ["reuse", "online"]},
                {"path": "d", "values": [8, 16, 32]},
            ],
        },
    )
    rows = experiments_of(session, body["id"])
    for e in rows:
        if e.algorithm == "reuse":
            samples = [2 * e.d * 0.9, 2 * e.d / 0.9]
        else:
            samples = [e.d**2 / 4 * 0.9, None if e.d == 32 else e.d**2 / 4 / 0.9]
        finish(session, e, [seed(i, weak_recovery_samples=s) for i, s in enumerate(samples)])
    return body["id"], rows


def test_scaling_fit_route(client, session, spec):
    sweep_id, _ = scaling_sweep(client, session, spec)
    body = client.get(f"/sweeps/{sweep_id}/scaling").json()
    assert body["x"] == "d" and body["threshold"] is None
    fits = {g["key"]["phase1.algorithm"]: g["fit"] for g in body["groups"]}
    assert fits["reuse"]["exponent"] == pytest.approx(1.0)
    assert fits["reuse"]["prefactor"] == pytest.approx(2.0)
    assert fits["reuse"]["n"] == 6
    low, high = fits["reuse"]["exponent_ci95"]
    assert low < 1.0 < high
    assert fits["online"]["n"] == 5 and fits["online"]["n_missing"] == 1
    assert 1.8 < fits["online"]["exponent"] < 2.2
    assert client.get(f"/sweeps/{sweep_id}/scaling?x=target").status_code == 422


def test_scaling_with_a_threshold_reads_the_trace(client, session, spec):
    body = post(client, {"base": spec, "axes": [{"path": "d", "values": [8, 16, 32]}], "seeds": 1})
    rows = experiments_of(session, body["id"])
    for e in rows:
        finish(session, e, [seed(0)])
        # median_abs_m reaches 0.3 at step d/8 (samples 10·d/8) and 0.6 at step d/4.
        values = [0.3 if step >= e.d // 8 else 0.0 for step in range(1, e.d // 4)] + [0.6]
        add_trace(session, e.id, 0, values)
    fit = client.get(f"/sweeps/{body['id']}/scaling?threshold=0.25").json()["groups"][0]["fit"]
    assert [p["samples"] for p in fit["points"]] == [10.0, 20.0, 40.0]
    assert fit["exponent"] == pytest.approx(1.0)
    fit = client.get(f"/sweeps/{body['id']}/scaling?threshold=0.5").json()["groups"][0]["fit"]
    assert [p["samples"] for p in fit["points"]] == [20.0, 40.0, 80.0]
    assert client.get(f"/sweeps/{body['id']}/scaling?threshold=1.5").status_code == 422


# ------------------------------------------------------------------------------------ plots
def is_png(response):
    return (
        response.status_code == 200
        and response.headers["content-type"] == "image/png"
        and response.content.startswith(b"\x89PNG\r\n\x1a\n")
    )


def is_svg(response):
    return (
        response.status_code == 200
        and response.headers["content-type"].startswith("image/svg+xml")
        and b"<svg" in response.content
    )


def test_plot_routes_return_png_and_svg(client, session, spec):
    _, rows = two_part_sweep(client, session, spec)
    add_trace(session, rows[0].id, 0, [0.1, 0.5, 0.7])
    add_trace(session, rows[0].id, 1, [0.2, 0.4, 0.9])
    plot = f"/experiments/{rows[0].id}/plot"
    assert is_png(client.get(f"{plot}.png?metric=median_abs_m"))
    assert is_svg(client.get(f"{plot}.svg"))
    assert is_png(client.get(f"/experiments/{rows[3].id}/plot.png"))  # no trace yet
    assert client.get(f"{plot}.png?metric=test_mse").status_code == 422
    assert client.get(f"{plot}.gif").status_code == 422
    assert client.get("/experiments/999999/plot.png").status_code == 404

    body = post(client, sweep_body(spec))
    for e in experiments_of(session, body["id"]):
        finish(session, e, [seed(0, test_mse=e.d / 100), seed(1, test_mse=e.d / 50)])
    heat = f"/sweeps/{body['id']}/heatmap"
    assert is_png(
        client.get(
            f"{heat}.png", params={"x": "d", "y": "phase1.stages.0.samples", "value": "test_mse"}
        )
    )
    assert is_svg(client.get(f"{heat}.svg", params={"x": "d", "y": "phase1.stages.0.samples"}))
    assert client.get(f"{heat}.png", params={"x": "d", "y": "nope"}).status_code == 422
    # With a varying third axis the heatmap needs it pinned.
    law_id, _ = scaling_sweep(client, session, spec)
    three = f"/sweeps/{law_id}/heatmap.png"
    assert client.get(three, params={"x": "d", "y": "d"}).status_code == 422
    assert is_png(client.get(f"/sweeps/{law_id}/scaling.png"))
    assert is_svg(
        client.get(
            f"/sweeps/{law_id}/scaling.svg",
            params={"where": "phase1.algorithm=online", "information_exponent": 3},
        )
    )
    assert client.get(f"/sweeps/{law_id}/scaling.png?group=5").status_code == 404


def test_dashboard_is_served(client):
    root = client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == "/ui/"
    page = client.get("/ui/")
    assert page.status_code == 200 and "silab" in page.text
    assert client.get("/ui/app.js").status_code == 200


def test_sweep_validation_messages_name_the_field_without_pydantic_internals(client, spec):
    """The 422 of a bad axis names its path from pydantic's `loc` and reports only the form the
    axis has (a plain axis, or a zip): no union member tags, no "Value error, " prefix."""
    cases = {
        "no values": ([{"path": "d"}], ["body", "axes", 0], "give 'values' or all of"),
        "both forms": (
            [{"path": "d", "values": [8], "start": 1, "stop": 2, "num": 2}],
            ["body", "axes", 0],
            "give either 'values' or a range",
        ),
        "a typo": ([{"pathh": "d", "values": [8]}], ["body", "axes", 0, "pathh"], "Extra inputs"),
        "inside a zip": (
            [{"zip": [{"path": "d", "values": [8]}, {"path": "seeds"}]}],
            ["body", "axes", 0, "zip", 1],
            "give 'values' or all of",
        ),
    }
    for name, (axes, loc, message) in cases.items():
        body = {**sweep_body(spec), "axes": axes}
        response = client.post("/sweeps", json=body)
        assert response.status_code == 422, name
        detail = response.json()["detail"]
        assert loc in [issue["loc"] for issue in detail], (name, detail)
        assert any(issue["msg"].startswith(message) for issue in detail), (name, detail)
        text = response.text
        for internal in ("function-after", "AxisCreate", "ZipAxisCreate", "Value error,"):
            assert internal not in text, (name, text)
    # A plain axis's mistake is not also reported as "not a zip" (and the other way round).
    typo = client.post(
        "/sweeps", json={**sweep_body(spec), "axes": [{"pathh": "d", "values": [8]}]}
    )
    assert all("zip" not in issue["loc"] for issue in typo.json()["detail"])


def test_a_spec_check_names_its_field_from_structured_data(client, spec):
    body = {
        "spec": {
            **spec,
            "phase1": {
                **spec["phase1"],
                "stages": [{"samples": "8*d", "lr": "-1", "inner_lr": "0.3/d"}],
            },
        }
    }
    response = client.post("/experiments/validate", json=body)
    assert response.status_code == 422, response.text
    (issue,) = response.json()["detail"]
    assert issue["loc"] == ["body", "spec", "phase1", "stages", 0, "lr"]
    assert issue["msg"] == "phase1.stages.0.lr evaluates to -1; it must be ≥ 0"


def test_heatmap_axes_read_as_words_and_a_decade_goes_log(client, session, spec):
    """Matplotlib writes each text of an SVG as a comment before its glyphs: the axes carry
    labels (api.labels), not dotted paths, and a colour scale over a decade is logarithmic."""
    body = post(client, sweep_body(spec))
    for e in experiments_of(session, body["id"]):
        value = 10.0 ** (e.d / 4)  # 100 at d = 8, 10^4 at d = 16: two decades
        finish(session, e, [seed(0, test_mse=value), seed(1, test_mse=value)])
    params = {"x": "d", "y": "phase1.stages.0.samples", "value": "test_mse"}
    svg = client.get(f"/sweeps/{body['id']}/heatmap.svg", params=params).text
    assert "<!-- dimension d -->" in svg and "<!-- Phase I sample budget -->" in svg
    assert "<!-- phase1.stages.0.samples -->" not in svg
    assert "test error (MSE) (mean), log scale" in svg
    linear = client.get(
        f"/sweeps/{body['id']}/heatmap.svg", params={**params, "log_color": "false"}
    ).text
    assert "log scale" not in linear
    narrow_body = sweep_body(spec)
    narrow_body["axes"][0]["values"] = [8, 32]  # another sweep (a name alone is the same one)
    narrow = post(client, narrow_body)
    for e in experiments_of(session, narrow["id"]):
        finish(session, e, [seed(0, test_mse=e.d / 100), seed(1, test_mse=e.d / 50)])
    assert "log scale" not in client.get(f"/sweeps/{narrow['id']}/heatmap.svg", params=params).text
