"""/health, /ready, /metrics, the OpenAPI document, and the import rule."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.config import ApiSettings
from api.main import create_app
from db import queue
from db.config import DbSettings
from db.session import make_engine

ROOT = Path(__file__).resolve().parents[2]
DEAD_BROKER = "redis://127.0.0.1:6390/0"
DEAD_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:6391/nothing"


def test_api_never_imports_torch_or_the_worker():
    code = (
        "import api.main, api.routes.experiments, sys; "
        "assert 'torch' not in sys.modules, 'torch'; "
        "bad = [m for m in sys.modules if m == 'worker' or m.startswith('worker.')]; "
        "assert not bad, bad"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_health_touches_nothing(tmp_path):
    engine = make_engine(DbSettings(database_url=DEAD_DATABASE))
    try:
        app = create_app(ApiSettings(data_dir=tmp_path, broker_url=DEAD_BROKER), engine=engine)
        with TestClient(app) as client:
            response = client.get("/health")
    finally:
        engine.dispose()
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_ready_with_database_and_broker(client):
    response = client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_ready_is_503_naming_a_dead_broker(make_client):
    client = make_client(broker_url=DEAD_BROKER)
    started = time.monotonic()
    response = client.get("/ready")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert "6390" in checks["broker"] or "refused" in checks["broker"].lower()


def test_ready_is_503_naming_a_dead_database(tmp_path):
    engine = make_engine(DbSettings(database_url=DEAD_DATABASE))
    try:
        with TestClient(create_app(ApiSettings(data_dir=tmp_path), engine=engine)) as client:
            response = client.get("/ready")
    finally:
        engine.dispose()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"] == "ok" and checks["database"] != "ok"


def _families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_metrics_parse_and_count_what_is_in_the_database(make_client, session, spec):
    client = make_client(worker_slots=3)  # every submission is sent at once
    ids = [client.post("/experiments", json={"spec": spec}).json()["id"] for _ in range(3)]
    client.app.state.dispatch.round()  # what the maintenance worker does when rung
    claimed = queue.claim(ids[0], session=session, worker="gpu0@host", lease_seconds=60)
    session.commit()
    queue.finish(
        ids[0],
        session=session,
        attempt=claimed.attempt,
        status="completed",
        summary={"samples_per_second": 1234.0},
        result={"status": "completed"},
    )
    queue.claim(ids[1], session=session, worker="gpu1@host", lease_seconds=60)
    session.commit()

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = _families(response.text)
    assert families["silab_database_up"].samples[0].value == 1
    by_status = {s.labels["status"]: s.value for s in families["silab_experiments"].samples}
    assert by_status == {
        "queued": 1,
        "running": 1,
        "completed": 1,
        "diverged": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert families["silab_queued_undispatched"].samples[0].value == 0
    wait = {s.name: s.value for s in families["silab_queue_wait_seconds"].samples}
    assert wait["silab_queue_wait_seconds_count"] == 2
    run = {s.name: s.value for s in families["silab_run_seconds"].samples}
    assert run["silab_run_seconds_count"] == 1
    attempts = {s.name: s.value for s in families["silab_attempts"].samples}
    assert attempts["silab_attempts_sum"] == 1
    speed = families["silab_trainer_samples_per_second"].samples
    assert [(s.labels["algorithm"], s.value) for s in speed] == [("reuse", 1234.0)]
    beats = families["silab_heartbeat_age_seconds"].samples
    assert [(s.labels["experiment_id"], s.labels["worker"]) for s in beats] == [
        (str(ids[1]), "gpu1@host")
    ]
    assert 0 <= beats[0].value < 60


def test_metrics_report_a_dead_database_instead_of_failing(tmp_path):
    engine = make_engine(DbSettings(database_url=DEAD_DATABASE))
    try:
        with TestClient(create_app(ApiSettings(data_dir=tmp_path), engine=engine)) as client:
            response = client.get("/metrics")
    finally:
        engine.dispose()
    assert response.status_code == 200
    assert _families(response.text)["silab_database_up"].samples[0].value == 0


def test_openapi_documents_every_route(client):
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    assert set(paths) >= {
        "/experiments",
        "/experiments/validate",
        "/experiments/{experiment_id}",
        "/experiments/{experiment_id}/trace",
        "/experiments/{experiment_id}/cancel",
        "/experiments/{experiment_id}/retry",
        "/health",
        "/ready",
        "/metrics",
    }
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
    submit = paths["/experiments"]["post"]
    assert {"201", "422"} <= set(submit["responses"])
    assert "ExperimentSpec" in document["components"]["schemas"]
    assert {"404", "409"} <= set(paths["/experiments/{experiment_id}/cancel"]["post"]["responses"])
    assert "503" in paths["/ready"]["get"]["responses"]
