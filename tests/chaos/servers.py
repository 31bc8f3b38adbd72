"""Private PostgreSQL and Redis servers for the chaos suite, on spare loopback ports in a
temporary folder: the suite stops, kills and restarts them, so it never touches the machine's
own servers. PostgreSQL comes from /usr/lib/postgresql/*/bin (initdb, pg_ctl); as root they run
as the `postgres` user (initdb refuses root)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import redis
from e2e_helpers import free_port, wait_until


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PostgresCluster:
    """initdb + pg_ctl on a spare port; `stop(mode)`, `start()`, `restart(mode)`."""

    def __init__(self) -> None:
        bin_dir = postgres_bin()
        assert bin_dir is not None, "no PostgreSQL binaries under /usr/lib/postgresql"
        self.bin = bin_dir
        # Its own folder under /tmp: pytest's are private to root, which `postgres` cannot enter.
        root = Path(tempfile.mkdtemp(prefix="silab-chaos-pg-"))
        self.root = root
        self.data = root / "pgdata"
        self.port = free_port()
        self.log = root / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self._databases = 0

    def new_database(self) -> str:
        """A fresh, empty database's URL (one per scenario)."""
        self._databases += 1
        name = f"silab_{self._databases}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self._as, str(self.bin / tool), *args],
            check=False,
            capture_output=True,
            cwd=self.root,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: {done.stderr.decode()[-2000:]}")

    def start(self) -> None:
        # fsync off: this cluster is thrown away; crash recovery after `-m immediate` still
        # replays the WAL, which is what the suite checks.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
            " -c fsync=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """redis-server on a spare port without persistence: a restart loses every message."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.root / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(up, 30, "the private redis-server to answer")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def close(self) -> None:
        self.stop()
