"""Trace streaming: GET /experiments/{id}/trace of a 10^7-point trace, raw (nothing downsampled)
as point-per-object JSON, CSV and Arrow, with the API process's resident memory sampled during
each fetch, against the same fetches of a 10^4-point trace in the same run (issue 10's goal: a
10^7-point trace streams in constant memory).

Set-up (created and removed by this script): a fresh PostgreSQL database, two completed
experiments whose trace chunks are encoded here with db.tracecodec and upserted with db.traces
(4 seeds, Phase I, all 7 metrics: random walks, test_mse measured every 10th point), and
`python -m api` (1 process). One client streams each response (httpx, 1 MiB reads, bytes counted
and dropped); a thread reads VmRSS of the API process from /proc every 20 ms. Reported per fetch:
seconds, bytes, MB/s, RSS before, peak and the growth; the goal's figure is the 10^7 fetch's
peak growth minus the 10^4 fetch's, per format.

    python bench/trace_stream.py [--quick] [--points N] [--redis-db N]
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
from api_load import SPEC
from common import parser as common_parser
from service_common import emit, environment, judge, load_now, stack

SEEDS = 4
# The growth allowed over the 10^4-point fetch's: a stream's buffers, not the trace.
CONSTANT_MIB = 64.0
FORMATS = {"json": {}, "csv": {"format": "csv"}, "arrow": {"format": "arrow"}}


def insert_trace(url: str, points: int) -> tuple[int, float]:
    """A completed experiment with `points` trace points in chunks; its id and the seconds."""
    from sqlalchemy import insert

    from api.schemas import TRACE_METRICS
    from db import tracecodec, traces
    from db.config import DbSettings
    from db.models import Experiment
    from db.session import make_engine, make_sessionmaker
    from trainer.spec import ExperimentSpec

    spec = ExperimentSpec.model_validate({**SPEC, "seeds": SEEDS})
    now = datetime.now(UTC)
    per_seed = points // SEEDS
    rng = np.random.default_rng(3)
    began = time.perf_counter()
    engine = make_engine(DbSettings(database_url=url))
    try:
        with make_sessionmaker(engine)() as session:
            experiment_id = session.execute(
                insert(Experiment)
                .values(
                    name=f"trace stream {points}",
                    owner="admin",
                    status="completed",
                    spec=spec.model_dump(mode="json"),
                    spec_hash=spec.spec_hash(),
                    target="h3",
                    algorithm="reuse",
                    d=16,
                    width=8,
                    seeds=SEEDS,
                    attempt=1,
                    samples_done=per_seed * 40,
                    samples_total=per_seed * 40,
                    started_at=now,
                    finished_at=now,
                )
                .returning(Experiment.id)
            ).scalar_one()
            for seed in range(SEEDS):
                steps = np.arange(1, per_seed + 1, dtype=np.int64) * 10
                m = np.clip(0.05 + np.cumsum(rng.normal(0.0005, 0.01, per_seed)), 0, 1)
                loss = 1 - m**2 + np.abs(rng.normal(0, 0.02, per_seed))
                columns = {
                    "step": steps,
                    "samples": steps * 4,
                    "mean_abs_m": m,
                    "median_abs_m": m * 0.98,
                    "max_abs_m": np.minimum(1.0, m * 1.2),
                    "frac_m_05": (m > 0.5).astype(np.float64),
                    "frac_m_09": (m > 0.9).astype(np.float64),
                    "train_loss": loss,
                    "test_mse": np.where(np.arange(per_seed) % 10 == 0, loss * 1.01, np.nan),
                }
                assert set(columns) - {"step", "samples"} == set(TRACE_METRICS)
                rows = []
                for chunk, start in enumerate(range(0, per_seed, traces.CHUNK_POINTS)):
                    part = {k: v[start : start + traces.CHUNK_POINTS] for k, v in columns.items()}
                    rows.append(
                        traces.ChunkRow(
                            seed=seed,
                            phase="phase1",
                            chunk=chunk,
                            first_step=int(part["step"][0]),
                            last_step=int(part["step"][-1]),
                            points=len(part["step"]),
                            data=tracecodec.encode(part),
                        )
                    )
                    if len(rows) == 256:
                        traces.upsert(experiment_id, session=session, attempt=1, rows=rows)
                        rows = []
                traces.upsert(experiment_id, session=session, attempt=1, rows=rows)
            session.commit()
    finally:
        engine.dispose()
    return experiment_id, round(time.perf_counter() - began, 1)


class RssSampler:
    """The peak VmRSS (MiB) of one process while running, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> float:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def fetch(
    client: httpx.Client, pid: int, experiment_id: int, params: dict[str, Any], limit_s: float
) -> dict[str, Any]:
    """Stream one response to nothing, with the API's RSS sampled."""
    sampler = RssSampler(pid)
    before = sampler.now()
    received, stopped = 0, False
    began = time.perf_counter()
    with (
        sampler,
        client.stream(
            "GET", f"/experiments/{experiment_id}/trace", params={"max_points": 10**9, **params}
        ) as response,
    ):
        response.raise_for_status()
        for block in response.iter_raw(2**20):
            received += len(block)
            if time.perf_counter() - began > limit_s:
                stopped = True
                break
    seconds = time.perf_counter() - began
    time.sleep(0.5)  # let the server drop the stream before the next fetch's baseline
    return {
        "seconds": round(seconds, 2),
        "bytes": received,
        "mb_per_s": round(received / seconds / 1e6, 1),
        "rss_before_mib": round(before, 1),
        "rss_peak_mib": round(sampler.peak, 1),
        "rss_growth_mib": round(sampler.peak - before, 1),
        "stopped_by_time_limit": stopped,
    }


def main() -> None:
    parser = common_parser(__doc__, quick="10^6 points instead of 10^7")
    parser.add_argument("--points", type=int, default=None, help="default 10^7 (quick 10^6)")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--limit-s", type=float, default=300.0, help="per fetch")
    parser.add_argument("--redis-db", type=int, default=None)
    args = parser.parse_args()
    big = args.points or (10**6 if args.quick else 10**7)
    began = time.perf_counter()
    with stack(args.redis_db) as run:
        small_id, small_s = insert_trace(run.database.url, args.small)
        big_id, big_s = insert_trace(run.database.url, big)
        base = run.api()
        key = run.admin_key()
        pid = run.procs[0].popen.pid
        results: dict[str, dict[str, Any]] = {}
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120
        ) as client:
            for params in FORMATS.values():  # warm-up: imports, first-request costs
                fetch(client, pid, small_id, params, args.limit_s)
            for name, params in FORMATS.items():
                results[name] = {
                    f"points_{args.small}": fetch(client, pid, small_id, params, args.limit_s),
                    f"points_{big}": fetch(client, pid, big_id, params, args.limit_s),
                }
    goals = {}
    for name, figures in results.items():
        small, large = figures[f"points_{args.small}"], figures[f"points_{big}"]
        extra = round(large["rss_growth_mib"] - small["rss_growth_mib"], 1)
        goals[f"{name}_rss_growth_over_small_mib"] = judge(
            extra,
            f"<= {CONSTANT_MIB:g}",
            f"the {big}-point fetch's RSS grew {large['rss_growth_mib']:g} MiB against "
            f"{small['rss_growth_mib']:g} for {args.small} points: the response is built whole "
            f"(load average {load_now()})",
        )
        if large["stopped_by_time_limit"]:
            goals[f"{name}_rss_growth_over_small_mib"]["note"] = (
                f"the fetch was cut at {args.limit_s:g} s after {large['bytes']} bytes: the "
                "growth is over that part"
            )
    emit(
        {
            "benchmark": "trace_stream",
            "description": f"GET /experiments/{{id}}/trace of {big} points, raw, as JSON, CSV and "
            f"Arrow, API process RSS sampled during the stream, vs {args.small} points",
            "quick": args.quick,
            "goal": f"constant memory: the {big}-point fetch's peak RSS growth within "
            f"{CONSTANT_MIB:g} MiB of the {args.small}-point fetch's, per format",
            "setup": {
                "points": {"small": args.small, "large": big},
                "seeds": SEEDS,
                "insert_seconds": {"small": small_s, "large": big_s},
                "api": "python -m api, 1 process; RSS of that process from /proc every 20 ms",
                "client": "httpx.Client.stream, 1 MiB raw reads, dropped",
                "not_measured": "format=columns: one array per column of a whole series, built "
                "whole by design (api/services/trace_formats.py); downsampled fetches are "
                "O(points) in memory too",
            },
            "results": results,
            "goals": goals,
            "wall_s": round(time.perf_counter() - began, 1),
            "environment": environment(),
        }
    )


if __name__ == "__main__":
    sys.exit(main())
