"""The `silab` command and SilabClient against a live uvicorn server (tests/client/conftest.py)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from client.errors import SilabError
from client.python import SilabClient
from db import queue
from tests.trace_helpers import add_points

ROOT = Path(__file__).resolve().parents[2]
CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port


def silab(live_api, *args: str, url: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """The CLI as a user runs it next to the embedded server: no SILAB_API_KEY, so it reads the
    admin key the server wrote into SILAB_DATA_DIR on its first start."""
    environ = {
        **os.environ,
        "SILAB_DATA_DIR": live_api.data_dir,
        # no user config file: a developer's own ~/.config/silab would come before the data dir
        "SILAB_CONFIG_FILE": str(Path(live_api.data_dir) / "no-config.toml"),
    }
    environ.pop("SILAB_API_KEY", None)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "client.cli", "--url", url or live_api.url, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environ,
    )


def admin(live_api, *args: str) -> subprocess.CompletedProcess:
    """`silab-admin` on the server (python -m api.admin), on the live API's database."""
    environ = {**os.environ, "SILAB_DATABASE_URL": live_api.database_url}
    return subprocess.run(
        [sys.executable, "-m", "api.admin", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environ,
    )


@pytest.fixture
def spec_file(tmp_path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text((ROOT / "trainer" / "presets" / "tiny.yaml").read_text())
    return path


def _id(stdout: str) -> int:
    # "experiment 12: queued (sent to the broker)"
    return int(stdout.split()[1].rstrip(":"))


def test_submit_show_list(live_api, spec_file):
    done = silab(
        live_api,
        "submit",
        str(spec_file),
        "--name",
        "cli smoke",
        "--tag",
        "cli",
        "--tag",
        "smoke",
        "--set",
        "d=16",
        "--set",
        "phase1.stages.0.lr=0.01",
    )
    assert done.returncode == 0, done.stderr
    # Submit only rings the dispatcher now: nothing is sent before its round.
    assert "queued (waiting for a free worker slot" in done.stdout
    ident = _id(done.stdout)

    shown = silab(live_api, "show", str(ident), "--json")
    assert shown.returncode == 0, shown.stderr
    experiment = json.loads(shown.stdout)
    assert experiment["d"] == 16 and experiment["spec"]["phase1"]["stages"][0]["lr"] == 0.01
    assert experiment["tags"] == ["cli", "smoke"] and experiment["name"] == "cli smoke"

    listed = silab(live_api, "list", "--tag", "cli", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [ident]
    table = silab(live_api, "list", "--name", "CLI SMO").stdout.splitlines()
    assert table[0].split()[:3] == ["id", "status", "name"] and len(table) == 2
    assert table[1].split()[0] == str(ident)


def test_submit_a_preset(live_api):
    done = silab(live_api, "submit", "preset:tiny")
    assert done.returncode == 0, done.stderr
    assert "queued" in done.stdout


def test_validate_prints_the_exponents(live_api, spec_file):
    done = silab(live_api, "validate", str(spec_file))
    assert done.returncode == 0, done.stderr
    assert "information_exponent: 3" in done.stdout and "reuse_exponent: 1" in done.stdout


def test_trace_csv(live_api, sessions):
    ident = SilabClient(live_api.url, api_key=live_api.key).submit("preset:tiny")["id"]
    with sessions() as session:
        queue.claim(ident, session=session, worker="test", lease_seconds=60)
        fixture_points: list[dict] = []
        for step in range(1, 11):
            for seed in (0, 1):
                fixture_points.append(
                    {
                        "experiment_id": ident,
                        "attempt": 1,
                        "seed": seed,
                        "phase": "phase1",
                        "step": step,
                        "samples": step,
                        "mean_abs_m": step / 10,
                        "test_mse": 1 - step / 20,
                    }
                )
        add_points(session, fixture_points)
        session.commit()
    done = silab(
        live_api, "trace", str(ident), "--csv", "--metrics", "mean_abs_m,test_mse", "--seeds", "1"
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["seed", "phase", "step", "samples", "mean_abs_m", "test_mse"]
    assert len(rows) == 11 and rows[-1][:3] == ["1", "phase1", "10"]
    as_json = json.loads(silab(live_api, "trace", str(ident), "--max-points", "4").stdout)
    assert as_json["downsampled"] and as_json["total_points"] == 20


def test_cancel_then_retry(live_api):
    ident = SilabClient(live_api.url, api_key=live_api.key).submit("preset:tiny")["id"]
    done = silab(live_api, "cancel", str(ident))
    assert done.returncode == 0 and f"experiment {ident}: cancelled" in done.stdout
    again = silab(live_api, "cancel", str(ident))
    assert again.returncode == 1
    assert again.stderr.strip() == f"silab: 409 Conflict: experiment {ident} is already cancelled"
    retried = silab(live_api, "retry", str(ident))
    assert retried.returncode == 0 and "queued" in retried.stdout


def test_priority_of_a_queued_experiment_and_of_a_sweeps_queued_ones(live_api):
    client = SilabClient(live_api.url, api_key=live_api.key)
    ident = client.submit("preset:tiny")["id"]
    done = silab(live_api, "priority", str(ident), "high")
    assert done.returncode == 0, done.stderr
    assert client.get(ident)["priority"] == 10
    bad = silab(live_api, "priority", str(ident), "urgent")
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "priority" in bad.stderr
    sweep = client.submit_sweep(
        {"name": "p", "base": "preset:tiny", "axes": [{"path": "d", "values": [8, 16]}]}
    )
    moved = silab(live_api, "sweep", "priority", str(sweep["id"]), "-5")
    assert moved.returncode == 0, moved.stderr
    assert f"sweep {sweep['id']}: 2 queued experiment(s) now at -5" in moved.stdout


def test_errors_are_one_clear_line_and_an_exit_code(live_api, spec_file, tmp_path):
    bad = yaml.safe_load(spec_file.read_text())
    bad["phase1"]["stages"][0]["lr"] = "0.3/x"
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text(yaml.safe_dump(bad))
    cases = [
        (
            ("submit", str(bad_file)),
            1,
            "phase1.stages.0.lr: cannot evaluate '0.3/x': unknown name 'x'",
        ),
        (("submit", str(tmp_path / "missing.yaml")), 2, "does not exist"),
        (("submit", str(spec_file), "--set", "nokey"), 2, "expected KEY.PATH=VALUE"),
        (("show", "999999"), 1, "404 Not Found: experiment 999999 not found"),
        (("list", "--sort", "bogus"), 1, "sort: 'bogus' is not one of id, created_at"),
        (("trace", "1", "--seeds", "x"), 2, "--seeds"),
    ]
    for args, code, words in cases:
        done = silab(live_api, *args)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert words in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    down = silab(live_api, "list", url=CLOSED)
    assert down.returncode == 1 and "cannot reach the silab API" in down.stderr
    assert "Traceback" not in down.stderr


def test_python_client_pages_and_waits(live_api, sessions):
    assert admin(live_api, "create-user", "carol").returncode == 0
    made_key = admin(live_api, "create-key", "carol", "--label", "test")
    assert made_key.returncode == 0 and "shown only now" in made_key.stderr
    silab_client = SilabClient(live_api.url, api_key=made_key.stdout.strip())
    made = [
        silab_client.submit("preset:tiny", name=f"page {i}", tags=["paging"])["id"]
        for i in range(7)
    ]
    listed = [e["id"] for e in silab_client.list(tag="paging", sort="id", page_size=3)]
    assert listed == sorted(made)
    assert {e["owner"] for e in silab_client.list(tag="paging")} == {"carol"}

    ident = made[0]

    def worker() -> None:  # plays the worker: claim, report progress, finish
        with sessions() as session:
            claimed = queue.claim(ident, session=session, worker="w", lease_seconds=60)
            session.commit()
            for done in (16, 32, 64):
                time.sleep(0.2)
                queue.heartbeat(
                    ident,
                    session=session,
                    attempt=claimed.attempt,
                    lease_seconds=60,
                    samples_done=done,
                )
                session.commit()
            queue.finish(
                ident,
                session=session,
                attempt=claimed.attempt,
                status="completed",
                summary={"test_mse": 0.5},
                result={"status": "completed"},
            )
            session.commit()

    thread = threading.Thread(target=worker)
    thread.start()
    seen: list[int] = []
    final = silab_client.wait(
        ident, timeout=30, interval=0.05, on_progress=lambda e: seen.append(e["samples_done"])
    )
    thread.join()
    assert final["status"] == "completed" and final["test_mse"] == 0.5
    assert seen == sorted(seen) and seen[-1] == 64 and len(set(seen)) >= 2
    # the command exits 0 for a completed experiment (no bar when not a TTY)
    done = silab(live_api, "wait", str(ident), "--interval", "0.1")
    assert done.returncode == 0 and "completed" in done.stdout and done.stderr == ""

    with pytest.raises(TimeoutError):
        silab_client.wait(made[1], timeout=0.3, interval=0.1)
    with pytest.raises(SilabError) as error:
        silab_client.retry(made[1])
    assert error.value.status == 409


def test_keys_admin_cli_and_the_new_commands(live_api):
    assert admin(live_api, "create-user", "dave", "--max-queued", "1").returncode == 0
    assert admin(live_api, "create-user", "dave").returncode == 1  # exists: a clear message
    key = admin(live_api, "create-key", "dave").stdout.strip()
    me = silab(live_api, "whoami", SILAB_API_KEY=key)
    assert me.returncode == 0 and "dave (member)" in me.stdout and "max 1" in me.stdout
    first = SilabClient(live_api.url, api_key=key).submit("preset:tiny")["id"]
    over = silab(live_api, "submit", "preset:tiny", SILAB_API_KEY=key)
    assert over.returncode == 1 and "max_queued" in over.stderr
    place = silab(live_api, "position", str(first), SILAB_API_KEY=key)
    assert place.returncode == 0 and f"experiment {first}" in place.stdout
    # the admin (the embedded key) may delete dave's; dave's key, once revoked, is refused
    assert silab(live_api, "delete", str(first)).returncode == 0
    assert admin(live_api, "revoke-key", key[:14]).returncode == 0
    refused = silab(live_api, "list", SILAB_API_KEY=key)
    assert refused.returncode == 1 and "401" in refused.stderr
    assert "dave" in admin(live_api, "list-keys", "dave").stdout


def test_batch_submits_a_file_of_specs_in_chunks(live_api, spec_file, tmp_path):
    spec = yaml.safe_load(spec_file.read_text())
    items = [{"name": f"b{i}", "spec": {**spec, "seeds": [i]}} for i in range(5)]
    batch = tmp_path / "batch.yaml"
    batch.write_text(yaml.safe_dump([*items, {**spec, "d": 9}]))
    done = silab(live_api, "batch", str(batch), "--tag", "bulk-cli", "--chunk", "4", "--json")
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout)["ids"]
    assert len(ids) == 6 and ids == sorted(ids)
    listed = silab(live_api, "list", "--tag", "bulk-cli", "--json").stdout.splitlines()
    assert sorted(json.loads(line)["id"] for line in listed) == ids
    with SilabClient(live_api.url, api_key=live_api.key) as client:
        assert client.get(ids[0])["name"] == "b0" and client.get(ids[-1])["d"] == 9
        bad = [{**spec, "d": -1}]
        with pytest.raises(SilabError, match=r"items\.1\.spec\.d: "):
            client.submit_batch([spec, *bad])
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("a: 1\n")
    refused = silab(live_api, "batch", str(wrong))
    assert refused.returncode == 2 and "non-empty list" in refused.stderr
