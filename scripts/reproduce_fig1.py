#!/usr/bin/env python
"""Reproduce the paper's Figure 1 (both panels) and the weak-recovery scaling law THROUGH silab.

    .venv/bin/python scripts/reproduce_fig1.py                 # CPU size, writes docs/results/fig1/
    .venv/bin/python scripts/reproduce_fig1.py --size paper --url http://gpu-host:8000
    .venv/bin/python scripts/reproduce_fig1.py --replot --url http://127.0.0.1:8000 --ids 1,2,3
    .venv/bin/python scripts/reproduce_fig1.py --only scaling  # rerun one sweep, keep the others

Without --url it starts its own service on the embedded default (SQLite database and SQLite
broker in a temporary SILAB_DATA_DIR): `alembic upgrade head`, `python -m api` on a free
loopback port and one `celery -A worker.app worker -B -c 1` (one torch thread), submits the three
sweep files of sweeps/ with the Python client, follows them to the end and downloads every figure
(PNG, rendered by the API's plot routes) and table (CSV, the API's aggregate routes) into --out.
It also writes run.json (sweep ids, wall and CPU time of the service's processes) and
summary.md (tables generated from the aggregates). Nothing here computes a statistic itself.

`--only NAME[,NAME]` submits and downloads only those sweeps (fig1a, fig1b, scaling): the other
sweeps' files in --out are left as they are, their sections of summary.md are kept verbatim and
their entries in run.json are kept, so the folder stays the output of the latest run of each
sweep. run.json's `service_runs` lists every invocation that produced part of the folder (sweep
ids are per invocation: each started service has a fresh database).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# after the sys.path set-up above
from client.python import SilabClient  # noqa: E402
from worker.launch import celery_argv  # noqa: E402

SWEEPS = {
    "cpu": {
        "fig1a": "sweeps/fig1a.yaml",
        "fig1b": "sweeps/fig1b.yaml",
        "scaling": "sweeps/scaling.yaml",
    },
    "paper": {
        "fig1a": "sweeps/fig1a-paper.yaml",
        "fig1b": "sweeps/fig1b-paper.yaml",
        "scaling": "sweeps/scaling-paper.yaml",
    },
}
TARGET_LABELS = {"h3": "h3", "h4": "h4", "h3+h4": "h3h4"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """api + `workers` worker processes (one slot each), in their own process groups; stopped on
    exit. The embedded default (SQLite database and broker) unless `env` names others
    (SILAB_DATABASE_URL, SILAB_BROKER_URL, SILAB_GROUP_MAX_EXPERIMENTS...)."""

    def __init__(
        self, data_dir: Path, *, workers: int = 1, env: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.workers = workers
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(data_dir),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "SILAB_DATA_DIR": str(data_dir),
            "SILAB_DEVICE": "cpu",
            "SILAB_WORKER_SLOTS": str(max(workers, 1)),  # an API alone still plans one slot
            **(env or {}),
        }
        self.url = ""

    def start(self) -> str:
        bin_dir = Path(sys.executable).parent
        subprocess.run(
            [str(bin_dir / "alembic"), "upgrade", "head"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        api = [sys.executable, "-m", "api", "--port", str(port), "--log-level", "warning"]
        # beat (the dispatcher's clock) runs embedded in the first worker only
        workers = [
            (
                f"worker{k or ''}",
                celery_argv(
                    node=f"w{k}@%h",
                    beat_schedule=self.data_dir / "beat-schedule" if k == 0 else None,
                    loglevel="warning",
                ),
            )
            for k in range(self.workers)
        ]
        for name, argv in [("api", api), *workers]:
            with (logs / f"{name}.log").open("ab") as out:
                self.procs.append(
                    subprocess.Popen(
                        argv,
                        cwd=ROOT,
                        env=self.env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return self.url
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the API did not become ready; see {logs}")

    def api_key(self) -> str | None:
        """The admin key the API writes on its first start (<data dir>/admin.key), if any."""
        path = self.data_dir / "admin.key"
        return path.read_text().strip() if path.is_file() else None

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def follow(silab: SilabClient, ids: dict[str, int], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        sweeps = {name: silab.get_sweep(i) for name, i in ids.items()}
        line = "  ".join(
            f"{name}: {sum(n for s, n in sw['progress'].items() if s not in ('queued', 'running'))}"
            f"/{sw['experiments_total']} {sw['status']}"
            for name, sw in sweeps.items()
        )
        if line != last:
            print(time.strftime("%H:%M:%S"), line, flush=True)
            last = line
        if all(sw["status"] not in ("queued", "running") for sw in sweeps.values()):
            return sweeps
        if time.monotonic() > deadline:
            raise TimeoutError(f"sweeps still running after {timeout:g} s: {line}")
        time.sleep(3)


def save(path: Path, data: bytes | str) -> None:
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    print("wrote", path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def download(silab: SilabClient, ids: dict[str, int], out: Path) -> dict[str, Any]:
    """Every figure and table of the write-up for the sweeps in `ids`, from the API."""
    get = silab.get_bytes
    heatmaps = (
        (
            "fig1a",
            "fig1a_overlap_heatmap.png",
            "phase1.stages.0.samples",
            "final_mean_abs_m",
            "Fig. 1(a), online SGD (B = 8): overlap after n samples (mean over seeds)",
        ),
        (
            "fig1b",
            "fig1b_test_error_heatmap.png",
            "phase1.n",
            "test_mse",
            "Fig. 1(b), GD on n samples: test error (mean over seeds)",
        ),
    )
    for figure, filename, y, value, title in heatmaps:
        if figure in ids:
            sweep = ids[figure]
            image = get(
                f"/sweeps/{sweep}/heatmap.png", x="d", y=y, value=value, vmin=0, vmax=1, title=title
            )
            save(out / filename, image)
            save(out / f"{figure}_aggregate.csv", silab.sweep_aggregate(sweep, format="csv"))
    examples = _examples(silab, ids, out)
    if "scaling" not in ids:
        return {"scaling": None, "examples": examples}
    s = ids["scaling"]
    save(out / "scaling_aggregate.csv", silab.sweep_aggregate(s, format="csv"))
    scaling = silab._request("GET", f"/sweeps/{s}/scaling", params={"threshold": 0.5}).json()
    save(out / "scaling_fit.json", json.dumps(scaling, indent=1))
    rows = ["target,algorithm,exponent,ci95_low,ci95_high,prefactor,n,n_missing,r2"]
    for index, group in enumerate(scaling["groups"]):
        key, fit = group["key"], group["fit"]
        target, algorithm = key.get("target"), key.get("phase1.algorithm")
        ci = fit["exponent_ci95"] or [None, None]
        rows.append(
            ",".join(
                "" if v is None else str(v)
                for v in (
                    target,
                    algorithm,
                    fit["exponent"],
                    ci[0],
                    ci[1],
                    fit["prefactor"],
                    fit["n"],
                    fit["n_missing"],
                    fit["r2"],
                )
            )
        )
        p = 3 if target in ("h3", "h3+h4") else 4
        save(
            out / f"scaling_{TARGET_LABELS.get(target, index)}_{algorithm}.png",
            get(
                f"/sweeps/{s}/scaling.png",
                group=index,
                threshold=0.5,
                information_exponent=p,
                title=f"{target}, {algorithm}: samples until |m| >= 0.5",
            ),
        )
    save(out / "scaling_fit.csv", "\n".join(rows) + "\n")
    return {"scaling": scaling, "examples": examples}


def _examples(silab: SilabClient, ids: dict[str, int], out: Path) -> dict[str, int]:
    """One experiment's curves per panel: the largest cell (scaling: an h3 reuse run)."""
    get = silab.get_bytes
    examples = {}
    for name, sweep_id in ids.items():
        experiments = silab.sweep_experiments(sweep_id)
        done = [e for e in experiments if e["status"] == "completed"]
        if not done:
            continue
        pick = (
            max(done, key=lambda e: (e["d"], e["samples_total"], -e["id"]))
            if name != "scaling"
            else next(
                (e for e in done if e["algorithm"] == "reuse" and e["target"] == "h3"), done[0]
            )
        )
        examples[name] = pick["id"]
        save(
            out / f"{name}_example_experiment.png",
            get(f"/experiments/{pick['id']}/plot.png", metric="mean_abs_m,median_abs_m"),
        )
    return examples


SUMMARY_HEADER = [
    "# Figure 1 through silab: generated tables",
    "",
    (
        "Means over seeds ± half-width of the 95% t-interval (n = seeds per cell); "
        "generated by scripts/reproduce_fig1.py from the API's aggregates."
    ),
    "",
]
# The heading each sweep's section of summary.md starts with (how --only finds the sections of
# the sweeps it did not rerun in the existing file).
SECTION_PREFIX = {"fig1a": "## Fig. 1(a)", "fig1b": "## Fig. 1(b)", "scaling": "## Weak recovery"}


def summary_sections(
    silab: SilabClient, ids: dict[str, int], scaling: dict[str, Any] | None
) -> dict[str, list[str]]:
    """Markdown tables of the aggregates (means ± 95% half-intervals) per sweep in `ids`,
    generated, not typed."""

    def fmt(stat: dict[str, Any], digits: int = 3) -> str:
        if stat["mean"] is None:
            return "–"
        text = f"{stat['mean']:.{digits}g}"
        if stat["ci95_high"] is not None:
            text += f" ± {(stat['ci95_high'] - stat['ci95_low']) / 2:.2g}"
        return text

    sections: dict[str, list[str]] = {}
    for name, field, y, title in (
        ("fig1a", "final_mean_abs_m", "phase1.stages.0.samples", "Fig. 1(a): overlap"),
        ("fig1b", "test_mse", "phase1.n", "Fig. 1(b): test error / E[y²]"),
    ):
        if name not in ids:
            continue
        cells = silab.sweep_aggregate(ids[name], fields=field)["cells"]
        ds = sorted({c["d"] for c in cells})
        ns = sorted({c[y] for c in cells})
        lines = [
            f"## {title} (sweep {ids[name]}), rows n, columns d",
            "",
            "| n | " + " | ".join(f"d = {d}" for d in ds) + " |",
            "|---|" + "---|" * len(ds),
        ]
        for n in ns:
            row = {c["d"]: c for c in cells if c[y] == n}
            lines.append(
                f"| {n} | " + " | ".join(fmt(row[d][field]) if d in row else "" for d in ds) + " |"
            )
        sections[name] = [*lines, ""]
    if "scaling" not in ids or scaling is None:
        return sections
    cells = silab.sweep_aggregate(
        ids["scaling"], fields="weak_recovery_samples,recovered,final_mean_abs_m"
    )["cells"]
    lines = [
        (
            f"## Weak recovery (sweep {ids['scaling']}): samples / d until |m| ≥ 0.5 "
            "(mean over the seeds that recovered), fraction recovered, and |m| at the end of "
            "the budget (one neuron: a recovery that holds ends near 0.7–0.9, a noise "
            "excursion that touched 0.5 falls back)"
        ),
        "",
        "| target | algorithm | d | samples / d | recovered | final \\|m\\| |",
        "|---|---|---|---|---|---|",
    ]
    for c in cells:
        w = c["weak_recovery_samples"]
        per_d = "–" if w["mean"] is None else f"{w['mean'] / c['d']:.3g}"
        lines.append(
            f"| {c['target']} | {c['phase1.algorithm']} | {c['d']} | {per_d} | "
            f"{fmt(c['recovered'], 2)} | {fmt(c['final_mean_abs_m'], 2)} |"
        )
    lines += [
        "",
        "Fitted exponents (samples ∝ d^b, 95% interval, from /scaling?threshold=0.5):",
        "",
        "| target | algorithm | b | 95% interval | runs in fit | never recovered |",
        "|---|---|---|---|---|---|",
    ]
    for group in scaling["groups"]:
        key, fit = group["key"], group["fit"]
        b = "–" if fit["exponent"] is None else f"{fit['exponent']:.2f}"
        ci = (
            "–"
            if not fit["exponent_ci95"]
            else f"[{fit['exponent_ci95'][0]:.2f}, {fit['exponent_ci95'][1]:.2f}]"
        )
        lines.append(
            f"| {key['target']} | {key['phase1.algorithm']} | {b} | {ci} | "
            f"{fit['n']} | {fit['n_missing']} |"
        )
    sections["scaling"] = [*lines, ""]
    return sections


def existing_sections(path: Path) -> dict[str, list[str]]:
    """The per-sweep sections of an existing summary.md (for the sweeps --only leaves alone)."""
    if not path.is_file():
        return {}
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            current = next(
                (name for name, prefix in SECTION_PREFIX.items() if line.startswith(prefix)), None
            )
        if current is not None:
            sections.setdefault(current, []).append(line)
    return sections


def write_summary(path: Path, fresh: dict[str, list[str]]) -> None:
    kept = existing_sections(path)
    lines = list(SUMMARY_HEADER)
    for name in SECTION_PREFIX:
        section = fresh.get(name) or kept.get(name)
        if section:
            lines += section if section[-1] == "" else [*section, ""]
    save(path, "\n".join(lines[:-1] if lines[-1] == "" else lines) + "\n")


def merge_record(
    path: Path,
    size: str,
    names: list[str],
    this_run: dict[str, Any],
    fresh: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """run.json: per-sweep entries of this run over those of the previous run.json (the sweeps
    --only left alone keep theirs), and `service_runs`, the invocations still represented."""
    old: dict[str, Any] = {}
    if len(names) < len(SWEEPS[size]) and path.is_file():
        old = json.loads(path.read_text())
        if old.get("size") != size:
            old = {}
    runs = list(old.get("service_runs") or [])
    if old and not runs and "wall_s_until_done" in old:  # the format before --only existed
        runs = [
            {
                "sweeps": list(old.get("sweep_ids") or {}),
                "sweep_ids": old.get("sweep_ids"),
                "wall_s_until_done": old.get("wall_s_until_done"),
                "service_cpu_s": old.get("service_cpu_s"),
            }
        ]
    for run in runs:  # what each earlier invocation still contributes
        run["sweeps"] = [name for name in run.get("sweeps", []) if name not in names]
    runs = [run for run in runs if run["sweeps"]] + [this_run]
    record: dict[str, Any] = {"size": size}
    for field, values in fresh.items():
        merged = {
            name: value for name, value in (old.get(field) or {}).items() if name not in names
        }
        merged.update(values)
        record[field] = {name: merged[name] for name in SWEEPS[size] if name in merged}
    record["service_runs"] = runs
    record["note"] = (
        "sweep ids are per service run (each started service has a fresh "
        "database); service_runs[i].sweeps = the sweeps whose outputs in this "
        "folder that run produced"
    )
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("cpu", "paper"), default="cpu")
    parser.add_argument("--url", help="use this running service instead of starting one")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "fig1")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait")
    parser.add_argument(
        "--key", help="API key for --url (default: the started service's admin key)"
    )
    parser.add_argument(
        "--ids",
        help="sweep ids of the sweeps run (fig1a,fig1b,scaling, or those "
        "of --only, in that order): only download (with --url)",
    )
    parser.add_argument(
        "--only",
        help="comma-separated subset of fig1a,fig1b,scaling: run and "
        "download only these, keep the other sweeps' outputs in --out",
    )
    args = parser.parse_args()
    if args.size == "paper" and not args.url:
        parser.error("--size paper is a GPU-size run: pass --url of a service with a GPU worker")
    names = list(SWEEPS[args.size])
    if args.only:
        names = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = sorted(set(names) - set(SWEEPS[args.size]))
        if unknown or not names:
            parser.error(f"--only takes names from {', '.join(SWEEPS[args.size])}")
        names = [name for name in SWEEPS[args.size] if name in names]
    args.out.mkdir(parents=True, exist_ok=True)
    service = None
    started = time.monotonic()
    try:
        url = args.url
        if not url:
            service = Service(Path(tempfile.mkdtemp(prefix="silab-fig1-")))
            url = service.start()
            print("silab at", url, "data in", service.data_dir, flush=True)
        with SilabClient(url, timeout=120) as silab:
            key = args.key or (service.api_key() if service else None)
            if key:
                silab.http.headers["Authorization"] = f"Bearer {key}"
            if args.ids:
                ids = dict(zip(names, (int(i) for i in args.ids.split(",")), strict=True))
            else:
                ids = {}
                for name in names:
                    path = SWEEPS[args.size][name]
                    sweep = silab.submit_sweep(ROOT / path)
                    ids[name] = sweep["id"]
                    print(
                        f"{name}: sweep {sweep['id']}, {sweep['experiments_total']} experiments"
                        f"{'' if sweep['created'] else ' (already there)'}",
                        flush=True,
                    )
            sweeps = follow(silab, ids, args.timeout)
            wall = time.monotonic() - started
            files = download(silab, ids, args.out)
            write_summary(args.out / "summary.md", summary_sections(silab, ids, files["scaling"]))
            run_seconds = {
                name: sum(e["wall_time_s"] or 0 for e in silab.sweep_experiments(i))
                for name, i in ids.items()
            }
    finally:
        if service is not None:
            service.stop()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    this_run = {
        "sweeps": names,
        "sweep_ids": ids,
        "date": time.strftime("%Y-%m-%d"),
        "wall_s_until_done": round(wall, 1),
        "service_cpu_s": round(usage.ru_utime + usage.ru_stime, 1) if service else None,
    }
    fresh = {
        "sweep_ids": ids,
        "sweep_files": {name: SWEEPS[args.size][name] for name in names},
        "status": {name: sw["status"] for name, sw in sweeps.items()},
        "progress": {
            name: {k: v for k, v in sw["progress"].items() if v} for name, sw in sweeps.items()
        },
        "experiment_wall_s": {k: round(v, 1) for k, v in run_seconds.items()},
        "example_experiments": files["examples"],
    }
    record = merge_record(args.out / "run.json", args.size, names, this_run, fresh)
    save(args.out / "run.json", json.dumps(record, indent=1) + "\n")
    return 0 if all(sw["status"] == "completed" for sw in sweeps.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
