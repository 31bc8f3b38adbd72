#!/usr/bin/env python
"""Reproduce the paper's Figure 1 (both panels) and the weak-recovery scaling law THROUGH silab.

    .venv/bin/python scripts/reproduce_fig1.py                 # CPU size, writes docs/results/fig1/
    .venv/bin/python scripts/reproduce_fig1.py --size paper --url http://gpu-host:8000
    .venv/bin/python scripts/reproduce_fig1.py --replot --url http://127.0.0.1:8000 --ids 1,2,3

Without --url it starts its own service on the embedded default (SQLite database and SQLite
broker in a temporary SILAB_DATA_DIR): `alembic upgrade head`, `uvicorn api.main:app` on a free
loopback port and one `celery -A worker.app worker -B -c 1` (one torch thread), submits the three
sweep files of sweeps/ with the Python client, follows them to the end and downloads every figure
(PNG, rendered by the API's plot routes) and table (CSV, the API's aggregate routes) into --out.
It also writes run.json (sweep ids, wall and CPU time of the service's processes) and
summary.md (tables generated from the aggregates). Nothing here computes a statistic itself.
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

from client.python import SilabClient

SWEEPS = {
    "cpu": {"fig1a": "sweeps/fig1a.yaml", "fig1b": "sweeps/fig1b.yaml",
            "scaling": "sweeps/scaling.yaml"},
    "paper": {"fig1a": "sweeps/fig1a-paper.yaml", "fig1b": "sweeps/fig1b-paper.yaml",
              "scaling": "sweeps/scaling-paper.yaml"},
}
TARGET_LABELS = {"h3": "h3", "h4": "h4", "h3+h4": "h3h4"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """api + worker on the embedded default, in their own process groups; stopped on exit."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(data_dir),
            "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "SILAB_DATA_DIR": str(data_dir), "SILAB_DEVICE": "cpu",
        }
        self.url = ""

    def start(self) -> str:
        bin_dir = Path(sys.executable).parent
        subprocess.run([str(bin_dir / "alembic"), "upgrade", "head"], cwd=ROOT, env=self.env,
                       check=True, capture_output=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name, argv in (
            ("api", [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
                     "--port", str(port), "--log-level", "warning"]),
            ("worker", [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-B",
                        "-c", "1", "-l", "warning", "-s", str(self.data_dir / "beat-schedule"),
                        "--without-gossip", "--without-mingle", "--without-heartbeat"]),
        ):
            with (logs / f"{name}.log").open("ab") as out:
                self.procs.append(subprocess.Popen(
                    argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True))
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
            f"/{sw['experiments_total']} {sw['status']}" for name, sw in sweeps.items())
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
    """Every figure and table of the write-up, from the API."""
    a, b, s = ids["fig1a"], ids["fig1b"], ids["scaling"]
    get = silab.get_bytes
    save(out / "fig1a_overlap_heatmap.png", get(
        f"/sweeps/{a}/heatmap.png", x="d", y="phase1.stages.0.samples", value="final_mean_abs_m",
        vmin=0, vmax=1,
        title="Fig. 1(a), online SGD (B = 8): overlap after n samples (mean over seeds)"))
    save(out / "fig1a_aggregate.csv", silab.sweep_aggregate(a, format="csv"))
    save(out / "fig1b_test_error_heatmap.png", get(
        f"/sweeps/{b}/heatmap.png", x="d", y="phase1.n", value="test_mse", vmin=0, vmax=1,
        title="Fig. 1(b), GD on n samples: test error (mean over seeds)"))
    save(out / "fig1b_aggregate.csv", silab.sweep_aggregate(b, format="csv"))
    save(out / "scaling_aggregate.csv", silab.sweep_aggregate(s, format="csv"))
    scaling = silab._request("GET", f"/sweeps/{s}/scaling", params={"threshold": 0.5}).json()
    save(out / "scaling_fit.json", json.dumps(scaling, indent=1))
    rows = ["target,algorithm,exponent,ci95_low,ci95_high,prefactor,n,n_missing,r2"]
    for index, group in enumerate(scaling["groups"]):
        key, fit = group["key"], group["fit"]
        target, algorithm = key.get("target"), key.get("phase1.algorithm")
        ci = fit["exponent_ci95"] or [None, None]
        rows.append(",".join("" if v is None else str(v) for v in (
            target, algorithm, fit["exponent"], ci[0], ci[1], fit["prefactor"], fit["n"],
            fit["n_missing"], fit["r2"])))
        p = 3 if target in ("h3", "h3+h4") else 4
        save(out / f"scaling_{TARGET_LABELS.get(target, index)}_{algorithm}.png", get(
            f"/sweeps/{s}/scaling.png", group=index, threshold=0.5, information_exponent=p,
            title=f"{target}, {algorithm}: samples until |m| >= 0.5"))
    save(out / "scaling_fit.csv", "\n".join(rows) + "\n")
    # One experiment's curves per panel: the largest cell.
    examples = {}
    for name, sweep_id in ids.items():
        experiments = silab.sweep_experiments(sweep_id)
        done = [e for e in experiments if e["status"] == "completed"]
        if not done:
            continue
        pick = max(done, key=lambda e: (e["d"], e["samples_total"], -e["id"])) \
            if name != "scaling" else next(
                (e for e in done if e["algorithm"] == "reuse" and e["target"] == "h3"), done[0])
        examples[name] = pick["id"]
        save(out / f"{name}_example_experiment.png",
             get(f"/experiments/{pick['id']}/plot.png", metric="mean_abs_m,median_abs_m"))
    return {"scaling": scaling, "examples": examples}


def summary(silab: SilabClient, ids: dict[str, int], scaling: dict[str, Any]) -> str:
    """Markdown tables of the aggregates (means ± 95% half-intervals), generated, not typed."""

    def fmt(stat: dict[str, Any], digits: int = 3) -> str:
        if stat["mean"] is None:
            return "–"
        text = f"{stat['mean']:.{digits}g}"
        if stat["ci95_high"] is not None:
            text += f" ± {(stat['ci95_high'] - stat['ci95_low']) / 2:.2g}"
        return text

    lines = ["# Figure 1 through silab: generated tables", "",
             ("Means over seeds ± half-width of the 95% t-interval (n = seeds per cell); "
             "generated by scripts/reproduce_fig1.py from the API's aggregates."), ""]
    for name, field, y, title in (
        ("fig1a", "final_mean_abs_m", "phase1.stages.0.samples", "Fig. 1(a): overlap"),
        ("fig1b", "test_mse", "phase1.n", "Fig. 1(b): test error / E[y²]"),
    ):
        cells = silab.sweep_aggregate(ids[name], fields=field)["cells"]
        ds = sorted({c["d"] for c in cells})
        ns = sorted({c[y] for c in cells})
        lines += [f"## {title} (sweep {ids[name]}), rows n, columns d", "",
                  "| n | " + " | ".join(f"d = {d}" for d in ds) + " |",
                  "|---|" + "---|" * len(ds)]
        for n in ns:
            row = {c["d"]: c for c in cells if c[y] == n}
            lines.append(f"| {n} | " + " | ".join(
                fmt(row[d][field]) if d in row else "" for d in ds) + " |")
        lines.append("")
    cells = silab.sweep_aggregate(ids["scaling"],
                                  fields="weak_recovery_samples,recovered")["cells"]
    lines += [(f"## Weak recovery (sweep {ids['scaling']}): samples / d until |m| ≥ 0.5 "
              "(seeds that recovered) and fraction recovered"), "",
              "| target | algorithm | d | samples / d | recovered |", "|---|---|---|---|---|"]
    for c in cells:
        w = c["weak_recovery_samples"]
        per_d = "–" if w["mean"] is None else f"{w['mean'] / c['d']:.3g}"
        lines.append(f"| {c['target']} | {c['phase1.algorithm']} | {c['d']} | {per_d} | "
                     f"{fmt(c['recovered'], 2)} |")
    lines += ["", "Fitted exponents (samples ∝ d^b, 95% interval, from /scaling?threshold=0.5):",
              "", "| target | algorithm | b | 95% interval | runs in fit | never recovered |",
              "|---|---|---|---|---|---|"]
    for group in scaling["groups"]:
        key, fit = group["key"], group["fit"]
        b = "–" if fit["exponent"] is None else f"{fit['exponent']:.2f}"
        ci = "–" if not fit["exponent_ci95"] else \
            f"[{fit['exponent_ci95'][0]:.2f}, {fit['exponent_ci95'][1]:.2f}]"
        lines.append(f"| {key['target']} | {key['phase1.algorithm']} | {b} | {ci} | "
                     f"{fit['n']} | {fit['n_missing']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("cpu", "paper"), default="cpu")
    parser.add_argument("--url", help="use this running service instead of starting one")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "fig1")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait")
    parser.add_argument("--key", help="API key for --url (default: the started service's admin "
                        "key)")
    parser.add_argument("--ids", help="fig1a,fig1b,scaling sweep ids: only download (with --url)")
    args = parser.parse_args()
    if args.size == "paper" and not args.url:
        parser.error("--size paper is a GPU-size run: pass --url of a service with a GPU worker")
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
                ids = dict(zip(("fig1a", "fig1b", "scaling"),
                               (int(i) for i in args.ids.split(",")), strict=True))
            else:
                ids = {}
                for name, path in SWEEPS[args.size].items():
                    sweep = silab.submit_sweep(ROOT / path)
                    ids[name] = sweep["id"]
                    print(f"{name}: sweep {sweep['id']}, {sweep['experiments_total']} experiments"
                          f"{'' if sweep['created'] else ' (already there)'}", flush=True)
            sweeps = follow(silab, ids, args.timeout)
            wall = time.monotonic() - started
            files = download(silab, ids, args.out)
            save(args.out / "summary.md", summary(silab, ids, files["scaling"]))
            run_seconds = {name: sum(e["wall_time_s"] or 0 for e in silab.sweep_experiments(i))
                           for name, i in ids.items()}
    finally:
        if service is not None:
            service.stop()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    record = {
        "size": args.size, "sweep_ids": ids,
        "sweep_files": SWEEPS[args.size],
        "status": {name: sw["status"] for name, sw in sweeps.items()},
        "progress": {name: {k: v for k, v in sw["progress"].items() if v}
                     for name, sw in sweeps.items()},
        "wall_s_until_done": round(wall, 1),
        "experiment_wall_s": {k: round(v, 1) for k, v in run_seconds.items()},
        "service_cpu_s": round(usage.ru_utime + usage.ru_stime, 1) if service else None,
        "example_experiments": files["examples"],
    }
    save(args.out / "run.json", json.dumps(record, indent=1) + "\n")
    return 0 if all(sw["status"] == "completed" for sw in sweeps.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
