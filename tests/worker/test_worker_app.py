"""The worker's settings and Celery configuration, and that its parent process stays torch-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from db.messages import MAINTAIN, MAINTAIN_QUEUE, RUN_EXPERIMENT, RUN_GROUP
from worker.app import beat_schedule, make_app
from worker.config import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_worker_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "import worker.app, worker.tasks, worker.dispatch\n"
        "loaded = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "assert not loaded, loaded\n"
        "assert 'trainer.train' not in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_default_broker_is_an_absolute_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SILAB_BROKER_URL", raising=False)
    monkeypatch.delenv("SILAB_DATA_DIR", raising=False)
    settings = WorkerSettings()
    assert settings.broker == f"sqla+sqlite:///{tmp_path.resolve() / '.silab' / 'broker.db'}"
    assert settings.transport_options() == {"connect_args": {"timeout": 30}}


def test_environment_variables_configure_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILAB_BROKER_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("SILAB_LEASE_SECONDS", "3")
    monkeypatch.setenv("SILAB_HEARTBEAT_SECONDS", "0.5")
    settings = WorkerSettings()
    assert settings.broker == "redis://127.0.0.1:6379/3"
    assert (settings.lease_seconds, settings.heartbeat_seconds) == (3, 0.5)
    assert settings.transport_options() == {"visibility_timeout": settings.visibility_timeout_s}


def test_a_heartbeat_slower_than_half_the_lease_is_refused() -> None:
    with pytest.raises(ValidationError, match="heartbeat_seconds"):
        WorkerSettings(lease_seconds=10, heartbeat_seconds=6)


def test_celery_settings(tmp_path: Path) -> None:
    app = make_app(WorkerSettings(data_dir=tmp_path / "data", dispatch_interval_s=2))
    conf = app.conf
    assert conf.task_ignore_result is True
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_concurrency == 1

    assert conf.broker_connection_retry_on_startup is True
    assert conf.task_routes[MAINTAIN] == {"queue": MAINTAIN_QUEUE}
    assert conf.beat_schedule == {
        "silab-maintain": {"task": MAINTAIN, "schedule": 2.0, "options": {"expires": 2.0}}
    }
    assert (tmp_path / "data").is_dir()  # SQLite creates the broker file but not its folder
    app.loader.import_default_modules()  # what a worker does at start: import `include`
    assert RUN_EXPERIMENT in app.tasks and MAINTAIN in app.tasks and RUN_GROUP in app.tasks


def test_the_run_child_stays_warm_until_its_recycle_limits(tmp_path: Path) -> None:
    settings = WorkerSettings(data_dir=tmp_path, worker_recycle_groups=7, worker_recycle_mb=512)
    conf = make_app(settings).conf
    assert conf.worker_max_tasks_per_child == 7
    assert conf.worker_max_memory_per_child == 512 * 1024  # KiB
    assert WorkerSettings(data_dir=tmp_path).worker_recycle_groups > 1  # warm by default


def test_a_separate_reap_interval_gets_its_own_entry() -> None:
    schedule = beat_schedule(WorkerSettings(dispatch_interval_s=5, reap_interval_s=20))
    assert schedule["silab-dispatch"]["kwargs"] == {"reap": False}
    assert schedule["silab-reap"]["kwargs"] == {"dispatch": False}
    assert schedule["silab-reap"]["schedule"] == 20
