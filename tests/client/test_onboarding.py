"""A new user's first minutes: the key is found from anywhere once `silab login` stored it, a
401 says where the key was looked for, `whoami` reads sensibly, and the help's own examples
work (`silab list --sort -test_mse`, a raw `trace --csv`)."""

from __future__ import annotations

import csv
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

from client.python import SilabClient
from db import queue
from tests.client.test_client_cli import ROOT, silab
from tests.trace_helpers import add_points


def bare_silab(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The CLI run from an arbitrary folder, with only what `env` gives it."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SILAB_")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "client.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**environ, "PYTHONPATH": str(ROOT)},
    )


def test_login_stores_the_key_and_every_later_command_finds_it(live_api, tmp_path) -> None:
    config = tmp_path / "home" / "config.toml"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Without any key: the 401 names the three places, in order.
    refused = bare_silab(elsewhere, "--url", live_api.url, "list", SILAB_CONFIG_FILE=str(config))
    assert refused.returncode == 1 and "401" in refused.stderr
    message = refused.stderr
    assert "$SILAB_API_KEY (unset)" in message and f"{config} (no such file)" in message
    assert ".silab/admin.key (no such file)" in message and "silab login" in message
    # `silab login` next to the local server takes its admin key and checks it.
    done = bare_silab(
        elsewhere,
        "--url",
        live_api.url,
        "login",
        SILAB_CONFIG_FILE=str(config),
        SILAB_DATA_DIR=live_api.data_dir,
    )
    assert done.returncode == 0, done.stderr
    assert "as admin (admin)" in done.stdout and stat.S_IMODE(config.stat().st_mode) == 0o600
    # From anywhere, with no environment but the config file's path: URL and key from the file.
    me = bare_silab(elsewhere, "whoami", SILAB_CONFIG_FILE=str(config))
    assert me.returncode == 0, me.stderr
    assert "admin (admin)" in me.stdout and f"from {config}" in me.stdout
    assert "None" not in me.stdout and "no limit" in me.stdout


def test_a_refused_key_says_where_it_came_from(live_api, tmp_path) -> None:
    done = silab(live_api, "list", SILAB_API_KEY="silab_not-a-key")
    assert done.returncode == 1
    assert "the key from $SILAB_API_KEY was refused" in done.stderr, done.stderr


def test_login_refuses_a_wrong_key_and_writes_nothing(live_api, tmp_path) -> None:
    config = tmp_path / "config.toml"
    done = silab(live_api, "login", "--key", "silab_wrong", SILAB_CONFIG_FILE=str(config))
    assert done.returncode == 1 and "401" in done.stderr and not config.exists()


def test_sort_descending_as_the_help_shows_it(live_api) -> None:
    client = SilabClient(live_api.url, api_key=live_api.key)
    client.submit("preset:tiny", name="sorted one")
    done = silab(live_api, "list", "--sort", "-test_mse", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_trace_csv_is_every_point_unless_max_points(live_api, sessions) -> None:
    ident = SilabClient(live_api.url, api_key=live_api.key).submit("preset:tiny")["id"]
    with sessions() as session:
        queue.claim(ident, session=session, worker="test", lease_seconds=60)
        add_points(
            session,
            (
                {
                    "experiment_id": ident,
                    "seed": seed,
                    "phase": "phase1",
                    "step": step,
                    "samples": step,
                    "mean_abs_m": (step % 7) / 7,
                }
                for seed in (0, 1)
                for step in range(1, 701)
            ),
        )
        session.commit()
    raw = silab(live_api, "trace", str(ident), "--csv", "--metrics", "mean_abs_m")
    assert raw.returncode == 0, raw.stderr
    assert len(list(csv.reader(io.StringIO(raw.stdout)))) == 1 + 1400
    cut = silab(live_api, "trace", str(ident), "--csv", "--max-points", "100")
    assert 1 + 20 < len(cut.stdout.splitlines()) <= 1 + 200
