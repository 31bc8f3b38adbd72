"""Who may call what, over EVERY route of the app: anonymous, a member who owns the resource,
another member, an admin. The routes come from app.routes, so a route added without a rule here
fails `test_every_route_has_a_rule`.

Rules:
    open   no key needed (probes, docs)
    any    any valid key (the lab reads everything)
    owner  the owner or an admin; another member gets 403
    admin  admins only; members get 403
"""

from __future__ import annotations

import pytest
from fastapi.routing import iter_route_contexts

from api.config import ApiSettings
from api.main import create_app
from db.models import Sweep

RULES: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): "open",
    ("GET", "/docs"): "open",
    ("GET", "/redoc"): "open",
    ("GET", "/"): "open",
    ("GET", "/health"): "open",
    ("GET", "/ready"): "open",
    ("GET", "/metrics"): "open",
    ("GET", "/meta"): "open",
    ("POST", "/experiments"): "any",
    ("POST", "/experiments:batch"): "any",
    ("POST", "/experiments/validate"): "any",
    ("GET", "/experiments"): "any",
    ("GET", "/experiments/{experiment_id}"): "any",
    ("GET", "/experiments/{experiment_id}/trace"): "any",
    ("GET", "/experiments/{experiment_id}/position"): "any",
    ("GET", "/experiments/{experiment_id}/plot.{fmt}"): "any",
    ("GET", "/experiments/{experiment_id}/events"): "any",
    ("POST", "/experiments/{experiment_id}/cancel"): "owner",
    ("POST", "/experiments/{experiment_id}/priority"): "owner",
    ("POST", "/experiments/{experiment_id}/retry"): "owner",
    ("DELETE", "/experiments/{experiment_id}"): "owner",
    ("GET", "/me"): "any",
    ("GET", "/audit"): "admin",
    ("POST", "/sweeps"): "any",
    ("GET", "/sweeps"): "any",
    ("GET", "/sweeps/{sweep_id}"): "any",
    ("GET", "/sweeps/{sweep_id}/experiments"): "any",
    ("POST", "/sweeps/{sweep_id}/cancel"): "owner",
    ("POST", "/sweeps/{sweep_id}/priority"): "owner",
    ("GET", "/sweeps/{sweep_id}/aggregate"): "any",
    ("GET", "/sweeps/{sweep_id}/aggregate/trace"): "any",
    ("GET", "/sweeps/{sweep_id}/scaling"): "any",
    ("GET", "/sweeps/{sweep_id}/fair"): "any",
    ("GET", "/sweeps/{sweep_id}/boundary"): "any",
    ("GET", "/sweeps/{sweep_id}/heatmap.{fmt}"): "any",
    ("GET", "/sweeps/{sweep_id}/scaling.{fmt}"): "any",
}


def app_routes() -> list[tuple[str, str]]:
    app = create_app(ApiSettings(bootstrap_admin=False))
    out = []
    for context in iter_route_contexts(app.routes):
        for method in sorted(getattr(context, "methods", None) or ()):
            if method != "HEAD":
                out.append((method, context.path))
    return out


ROUTES = app_routes()


def test_every_route_has_a_rule() -> None:
    missing = [route for route in ROUTES if route not in RULES]
    assert not missing, f"routes without an authorization rule in this test: {missing}"
    stale = [route for route in RULES if route not in ROUTES]
    assert not stale, f"rules for routes that no longer exist: {stale}"


def _request(client, method: str, path: str, spec, experiment_id: int, sweep_id: int):
    url = (
        path.replace("{experiment_id}", str(experiment_id))
        .replace("{sweep_id}", str(sweep_id))
        .replace("{fmt}", "svg")
    )
    body = None
    if (method, path) in (("POST", "/experiments"), ("POST", "/experiments/validate")):
        body = {"spec": spec}
    elif (method, path) == ("POST", "/experiments:batch"):
        body = {"items": [{"spec": spec}]}
    elif path.endswith("/priority"):
        body = {"priority": "high"}
    elif (method, path) == ("POST", "/sweeps"):
        body = {"name": "m", "base": spec, "axes": [{"path": "d", "values": [8]}]}
    return client.request(method, url, json=body)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_authorization_matrix(make_client, session, spec, method: str, path: str) -> None:
    rule = RULES[(method, path)]
    callers = {
        "anonymous": make_client(user=None),
        "owner": make_client(user="alice"),
        "other": make_client(user="bob"),
        "admin": make_client(user="root"),
    }
    sweep = Sweep(
        name="m",
        owner="alice",
        sweep_hash="0" * 64,
        definition={},
        axes=[],
        cells=0,
        experiments_total=0,
    )
    session.add(sweep)
    session.commit()
    # In the order that keeps the resource alive longest: refusals first.
    for who in ("anonymous", "other", "owner", "admin"):
        experiment_id = callers["owner"].post("/experiments", json={"spec": spec}).json()["id"]
        if path.endswith("/events"):
            # A live stream closes only once its experiment is finished: cancel the queued one
            # so that the stream answers its status and ends.
            callers["owner"].post(f"/experiments/{experiment_id}/cancel")
        response = _request(callers[who], method, path, spec, experiment_id, sweep.id)
        code = response.status_code
        expected_refusal = {
            "anonymous": rule != "open" and 401,
            "other": rule in ("owner", "admin") and 403,
            "owner": rule == "admin" and 403,
            "admin": False,
        }[who]
        if expected_refusal:
            assert code == expected_refusal, f"{who}: {code} {response.text[:200]}"
        else:
            assert code not in (401, 403), f"{who}: {code} {response.text[:200]}"
            assert code < 500, f"{who}: {code} {response.text[:200]}"
