#!/usr/bin/env python
"""Issue 8's sweeps THROUGH silab, resumable, with tables and a write-up per sweep.

    nohup nice -n 19 .venv/bin/python scripts/science_sweeps.py run h3 > sweep-h3.log 2>&1 &
    .venv/bin/python scripts/science_sweeps.py report h3          # tables from what is stored
    .venv/bin/python scripts/science_sweeps.py run h3 --url http://gpu-host:8000  # paper size
    .venv/bin/python scripts/science_sweeps.py report h3 h3-1024 --pool  # one fit over both
    scripts/science_sweeps.py run h3 --workers 2 --group-max 2 \
        --database-url postgresql+psycopg://postgres@127.0.0.1/silab_science \
        --broker-url redis://127.0.0.1:6379/12        # production parts, two slots

`run NAME…` submits sweeps/science-NAME.yaml to a service and follows it to the end, then writes
the report. Without --url it starts its own service (reproduce_fig1.Service: by default the
SQLite database and broker, --workers worker processes) on a PERSISTENT data folder,
.silab-science/, so a run that is stopped resumes from what is stored: POST /sweeps answers the
existing sweep for the same definition (nothing is queued twice), finished experiments stay
finished, a running one is handed back and resumed from its last checkpoint. The service's
address goes to .silab-science/url while it runs, so a second `run` joins it.

`report NAME…` reads what is stored with this checkout's API and no worker (a copy of the SQLite
file while a run holds it; an API alone on --database-url) and writes docs/results/science/NAME/:
for the generalization sweep boundary.json, tables.md and curve.png from GET
/sweeps/{id}/boundary (scripts/generalization_report.py); for Figure 1's panels (fig1a, fig1b)
heatmap.png, aggregate.csv, boundary.json and tables.md, the boundary slope with its bootstrap
interval (scripts/fig1_report.py); for the others tables.md (per target,
algorithm and d the best step by the Kaplan–Meier median of held recovery, the winning value,
the censored count, and the scaling fit over the winners), fair.json (GET /sweeps/{id}/fair
verbatim) and scaling.png (scripts/science_report.py). --pool reports the NAMEs as one grid in
the first one's folder. Nothing here computes a statistic itself. CPU time of the service's
processes per `run` is appended to docs/results/science/cpu.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

# after the sys.path set-up above
from reproduce_fig1 import Service  # noqa: E402

from client.python import SilabClient  # noqa: E402

DATA = ROOT / ".silab-science"
OUT = ROOT / "docs" / "results" / "science"


def sweep_file(name: str) -> Path:
    path = ROOT / "sweeps" / f"science-{name}.yaml"
    if not path.is_file():
        raise SystemExit(f"no sweep file {path.relative_to(ROOT)}")
    return path


def running_url() -> str | None:
    """The address of a service this script started and that still answers."""
    import httpx

    path = DATA / "url"
    if not path.is_file():
        return None
    url = path.read_text().strip()
    try:
        return url if httpx.get(f"{url}/ready", timeout=2).status_code == 200 else None
    except httpx.TransportError:
        return None


class Snapshot(Service):
    """An API alone (no worker) on a consistent copy of the running service's database, so a
    report can be read while a sweep runs, with this checkout's routes and migrations."""

    def __init__(self) -> None:
        import sqlite3
        import tempfile

        super().__init__(Path(tempfile.mkdtemp(prefix="silab-snapshot-")), workers=0)
        with (
            sqlite3.connect(DATA / "silab.db") as source,
            sqlite3.connect(self.data_dir / "silab.db") as copy,
        ):
            source.backup(copy)
        (self.data_dir / "admin.key").write_text((DATA / "admin.key").read_text())


def report(name: str) -> Any:
    """The module that writes a sweep's report: the boundary view for the generalization curve,
    a table of every cell for the ablations, the fair-baseline view for the scaling sweeps."""
    import ablation_report
    import fig1_report
    import generalization_report
    import science_report

    if name.startswith("fig1"):  # Figure 1's panels: heatmap, boundary and its slope
        return fig1_report
    if name.startswith("generalization"):  # also generalization-paper
        return generalization_report
    return ablation_report if name.startswith("ablations") else science_report


def follow(silab: SilabClient, sweep_id: int, name: str) -> dict[str, Any]:
    last = ""

    def show(sweep: dict[str, Any]) -> None:
        nonlocal last
        line = f"{name}: {sweep['progress']} {sweep['status']}"
        if line != last:
            print(time.strftime("%H:%M:%S"), line, flush=True)
            last = line

    return silab.wait_sweep(sweep_id, interval=10.0, on_progress=show)


def record_cpu(names: list[str], started: float, cpu_s: float | None) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "cpu.json"
    runs = json.loads(path.read_text()) if path.is_file() else []
    runs.append(
        {
            "sweeps": names,
            "wall_s": round(time.time() - started, 1),
            "service_cpu_s": None if cpu_s is None else round(cpu_s, 1),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        }
    )
    path.write_text(json.dumps(runs, indent=1) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("names", nargs="+", help="sweeps/science-NAME.yaml")
    parser.add_argument("--url", help="a running silab service (default: start one)")
    parser.add_argument("--api-key")
    parser.add_argument(
        "--pool",
        action="store_true",
        help="report the NAMEs as one grid, in the first one's folder (e.g. h3 h3-1024)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (one slot each)")
    parser.add_argument(
        "--database-url", help="e.g. postgresql+psycopg://...; default: SQLite in .silab-science/"
    )
    parser.add_argument("--broker-url", help="e.g. redis://127.0.0.1:6379/12; default: SQLite")
    parser.add_argument(
        "--group-max", type=int, help="experiments per fused group (default: the service's)"
    )
    args = parser.parse_args()
    env = {
        name: str(value)
        for name, value in (
            ("SILAB_DATABASE_URL", args.database_url),
            ("SILAB_BROKER_URL", args.broker_url),
            ("SILAB_GROUP_MAX_EXPERIMENTS", args.group_max),
        )
        if value is not None
    }
    # SIGTERM (kill PID) must stop the service it started and record its CPU time too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    files = [sweep_file(name) for name in args.names]
    started = time.time()
    url, service = args.url, None
    if url is None and args.command == "report":
        # A report reads what is stored with THIS checkout's API, never a running service's
        # (older code), and no worker: a copy of the SQLite file while a run holds it, else an
        # API alone on the database.
        sqlite_running = not args.database_url and running_url() is not None
        service = Snapshot() if sqlite_running else Service(DATA, workers=0, env=env)
        url = service.start()
    elif url is None:
        url = running_url()
        if url is None:
            DATA.mkdir(exist_ok=True)
            service = Service(DATA, workers=args.workers, env=env)
            url = service.start()
            (DATA / "url").write_text(url)
    key = args.api_key or (service.api_key() if service else None)
    if key is None and (DATA / "admin.key").is_file():
        key = (DATA / "admin.key").read_text().strip()
    try:
        with SilabClient(url, api_key=key) as silab:
            # every sweep is queued before any is followed, so all the slots stay busy
            ids = {}
            for name, path in zip(args.names, files, strict=True):
                sweep = silab.submit_sweep(path)
                print(f"{name}: sweep {sweep['id']} ({'new' if sweep['created'] else 'stored'})")
                ids[name] = sweep["id"]
            for name, sweep_id in ids.items():
                if args.command == "run":
                    follow(silab, sweep_id, name)
                if not args.pool:
                    report(name).write(silab, sweep_id, name, OUT / name)
            if args.pool:
                first, *rest = ids
                report(first).write(silab, ids[first], first, OUT / first, [ids[n] for n in rest])
    finally:
        if service is not None:
            service.stop()
        if service is not None and args.command == "run":
            (DATA / "url").unlink(missing_ok=True)
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            record_cpu(args.names, started, usage.ru_utime + usage.ru_stime)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
