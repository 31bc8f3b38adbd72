"""Prometheus metrics, read from the database at scrape time (the database is the truth, and
every API process reports the same numbers, so any replica can be scraped)."""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import timedelta

from prometheus_client.core import (
    CollectorRegistry,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Algorithm, Experiment, Status
from db.types import utcnow

log = logging.getLogger(__name__)

QUEUE_WAIT_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
RUN_TIME_BUCKETS = (10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 48 * 3600)
ATTEMPT_BUCKETS = (1, 2, 3, 5, 10)
# At most this many recent rows feed each distribution.
RECENT_ROWS = 10_000


def _histogram(
    name: str, documentation: str, values: Sequence[float], buckets: Sequence[float]
) -> HistogramMetricFamily:
    counts = [(str(float(b)), sum(1 for v in values if v <= b)) for b in buckets]
    counts.append(("+Inf", len(values)))
    return HistogramMetricFamily(name, documentation, buckets=counts, sum_value=math.fsum(values))


class DatabaseCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session], window_s: float) -> None:
        self.sessions = sessions
        self.window = timedelta(seconds=window_s)

    def describe(self) -> Iterable[Metric]:
        return []  # collected at scrape time only; nothing to describe at registration

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("silab_database_up", "1 when the scrape could read the database")
        try:
            with self.sessions() as session:
                metrics = list(self._collect(session))
        except Exception:
            log.warning("metrics: the database could not be read", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _collect(self, session: Session) -> Iterable[Metric]:
        now = utcnow()
        since = now - self.window

        by_status = GaugeMetricFamily(
            "silab_experiments", "experiments by status", labels=["status"]
        )
        counts = dict(
            session.execute(
                select(Experiment.status, func.count()).group_by(Experiment.status)
            ).all()
        )
        for state in Status:
            by_status.add_metric([state], counts.get(state, 0))
        yield by_status

        undispatched = session.scalar(
            select(func.count()).where(
                Experiment.status == Status.queued, Experiment.dispatched_at.is_(None)
            )
        )
        yield GaugeMetricFamily(
            "silab_queued_undispatched",
            "queued experiments the broker has not taken yet",
            value=undispatched or 0,
        )

        started = session.execute(
            select(Experiment.created_at, Experiment.started_at)
            .where(Experiment.started_at.is_not(None), Experiment.created_at >= since)
            .order_by(Experiment.id.desc())
            .limit(RECENT_ROWS)
        ).all()
        waits = [max(0.0, (s - c).total_seconds()) for c, s in started if s is not None]
        yield _histogram(
            "silab_queue_wait_seconds",
            "started_at − created_at of experiments created in the window",
            waits,
            QUEUE_WAIT_BUCKETS,
        )

        finished = session.execute(
            select(
                Experiment.started_at,
                Experiment.finished_at,
                Experiment.attempt,
                Experiment.samples_per_second,
                Experiment.algorithm,
            )
            .where(Experiment.finished_at.is_not(None), Experiment.finished_at >= since)
            .order_by(Experiment.id.desc())
            .limit(RECENT_ROWS)
        ).all()
        runs = [
            max(0.0, (f - s).total_seconds())
            for s, f, *_ in finished
            if s is not None and f is not None
        ]
        yield _histogram(
            "silab_run_seconds",
            "finished_at − started_at of experiments finished in the window",
            runs,
            RUN_TIME_BUCKETS,
        )
        yield _histogram(
            "silab_attempts",
            "attempts of experiments finished in the window",
            [float(a) for _, _, a, _, _ in finished],
            ATTEMPT_BUCKETS,
        )

        rates: dict[Algorithm, list[float]] = {}
        for *_, rate, algorithm in finished:
            if rate is not None and math.isfinite(rate):
                rates.setdefault(algorithm, []).append(rate)
        speed = GaugeMetricFamily(
            "silab_trainer_samples_per_second",
            "median trainer throughput of experiments finished in the window",
            labels=["algorithm"],
        )
        for algorithm, values in sorted(rates.items()):
            speed.add_metric([algorithm], statistics.median(values))
        yield speed

        heartbeat = GaugeMetricFamily(
            "silab_heartbeat_age_seconds",
            "seconds since the last heartbeat of each running experiment",
            labels=["experiment_id", "worker"],
        )
        running = session.execute(
            select(Experiment.id, Experiment.worker, Experiment.heartbeat_at, Experiment.started_at)
            .where(Experiment.status == Status.running)
            .order_by(Experiment.id)
            .limit(1000)
        ).all()
        for ident, worker, beat, start in running:
            last = beat or start
            if last is not None:
                heartbeat.add_metric(
                    [str(ident), worker or ""], max(0.0, (now - last).total_seconds())
                )
        yield heartbeat


def make_registry(sessions: sessionmaker[Session], window_s: float) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(sessions, window_s))
    return registry
