"""What every chaos scenario needs: the admin key, submits that retry a 503 as a client should
(same Idempotency-Key, so a retry never makes a second experiment), the points an uninterrupted
run emits, and the figures (submitted, completed, failed, lost, duplicated and missing trace
points, recomputed runs).

Budgets come from the work: `Work.measure` runs the spec once in this process and every wait is a
wide multiple of that wall time (a loaded 2-core machine is 10× slower than an idle one)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from e2e_helpers import Stack, wait_until

from db import traces
from trainer.results import EvalPoint
from trainer.spec import ExperimentSpec

FINAL = {"completed", "diverged", "failed", "cancelled"}
# The data folder's size in the disk-full scenario: the migrated database, the broker and the
# rate-limit files and a few experiments fit in it many times over.
SMALL_DISK = "32m"
# Margin on a measured wall time: load, process start (torch import), the lease of a killed run.
MARGIN = 20.0


def key(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {(stack.tmp / 'data' / 'admin.key').read_text().strip()}"}


@dataclass
class Work:
    """One spec, the points it emits uninterrupted (their keys and metric values), its per-seed
    results and how long it took here."""

    spec: dict[str, Any]
    points: list[tuple[str, int, int]]
    seconds: float
    values: dict[tuple[str, int, int], dict[str, float | None]] = field(default_factory=dict)
    seeds: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def measure(cls, spec: dict[str, Any]) -> Work:
        import trainer.train

        emitted: list[EvalPoint] = []

        class Record:
            def on_eval(self, point: EvalPoint) -> None:
                emitted.append(point)

            def should_stop(self) -> bool:
                return False

            def on_checkpoint(self, state: dict[str, Any]) -> None:
                pass

        start = time.monotonic()
        result = trainer.train.run(
            ExperimentSpec.model_validate(spec), device="cpu", callbacks=Record()
        )
        seconds = time.monotonic() - start
        points = sorted((p.phase, p.step, seed) for p in emitted for seed in p.seeds)
        values = {
            (p.phase, p.step, seed): {name: v[i] for name, v in p.metrics.items()}
            for p in emitted
            for i, seed in enumerate(p.seeds)
        }
        return cls(spec, points, seconds, values, result.to_dict()["seeds"])

    def budget(self, runs: int, extra_s: float = 0.0) -> float:
        """Seconds to wait for `runs` of this spec, one after another, plus `extra_s`."""
        return MARGIN * (runs * self.seconds + 3.0) + extra_s + 60.0


def submit(
    api: str, headers: dict[str, str], spec: dict[str, Any], budget: float, **fields: Any
) -> tuple[int, int]:
    """Submit until a 201, retrying 503s (after Retry-After, capped at 1 s here) and transport
    errors with the same Idempotency-Key; `fields` go into the body beside the spec. Returns
    (experiment id, 503 answers seen)."""
    idempotency = uuid.uuid4().hex
    unavailable = 0
    deadline = time.monotonic() + budget
    while True:
        try:
            response = httpx.post(
                f"{api}/experiments",
                json={"spec": spec, **fields},
                headers={**headers, "Idempotency-Key": idempotency},
                timeout=30,
            )
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 201:
            return int(response.json()["id"]), unavailable
        if response is not None:
            assert response.status_code == 503, (response.status_code, response.text[:300])
            assert "Retry-After" in response.headers
            unavailable += 1
        assert time.monotonic() < deadline, "the API did not take the submission in time"
        time.sleep(min(1.0, float(response.headers["Retry-After"]) if response else 0.2))


def wait_final(stack: Stack, ids: list[int], timeout: float) -> None:
    def done() -> bool:
        with stack.sessions()() as session:
            from db.models import Experiment

            rows = session.query(Experiment.status).filter(Experiment.id.in_(ids)).all()
            return len(rows) == len(ids) and all(status in FINAL for (status,) in rows)

    wait_until(done, timeout, f"experiments {ids} to finish", lambda: explain(stack))


def figures(stack: Stack, ids: list[int], work: Work) -> dict[str, Any]:
    """Counts over the experiments: statuses, recomputed runs (attempt > 1), lost (not final),
    and trace points duplicated or missing against the uninterrupted run."""
    from db.models import Experiment

    statuses: Counter[str] = Counter()
    recomputed = duplicated = missing = 0
    with stack.sessions()() as session:
        for experiment_id in ids:
            experiment = session.get(Experiment, experiment_id)
            assert experiment is not None
            statuses[experiment.status] += 1
            recomputed += experiment.attempt > 1
    for experiment_id in ids:
        keys = Counter(row[:3] for row in stack.trace(experiment_id))
        duplicated += sum(n - 1 for n in keys.values() if n > 1)
        stored = {(phase, step, seed) for phase, step, seed in keys}
        missing += len(set(work.points) - stored)
    return {
        "submitted": len(ids),
        "completed": statuses["completed"],
        "failed": statuses["failed"],
        "lost": sum(n for s, n in statuses.items() if s not in FINAL),
        "recomputed_runs": recomputed,
        "duplicated_points": duplicated,
        "missing_points": missing,
    }


def differences(stack: Stack, ids: list[int], work: Work) -> dict[str, int]:
    """Against the uninterrupted run, bit for bit (CPU): experiments whose per-seed results
    differ, and stored trace points whose metric values differ."""
    from db.models import Experiment

    results = points = 0
    with stack.sessions()() as session:
        for experiment_id in ids:
            experiment = session.get(Experiment, experiment_id)
            assert experiment is not None
            results += (experiment.result or {}).get("seeds") != work.seeds
            for stored in traces.points(session=session, experiment_id=experiment_id):
                want = work.values.get((stored["phase"], stored["step"], stored["seed"]))
                points += want is not None and any(stored.get(k) != v for k, v in want.items())
    return {"results_differing": results, "points_differing": points}


def explain(stack: Stack) -> str:
    """Claims, resumes and errors from every process's log (never beat ticks), then every
    experiment's row; the database may be the thing that is down."""
    parts = []
    for proc in stack.procs:
        parts.append(f"--- {proc.name} (pid {proc.popen.pid}, rc {proc.popen.poll()}) ---")
        parts.append(proc.explaining())
    from db.models import Experiment

    try:
        with stack.sessions()() as session:
            for e in session.query(Experiment).order_by(Experiment.id):
                parts.append(
                    f"experiment {e.id}: {e.status} attempt {e.attempt} samples "
                    f"{e.samples_done} worker {e.worker} error {(e.error or '')[:200]!r}"
                )
    except Exception as error:  # noqa: BLE001 - the database may be the thing that is down
        parts.append(f"(database unreadable: {error})")
    return "\n".join(parts)
