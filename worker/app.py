"""The Celery app. No torch here: the worker's parent process must not touch CUDA (a forked child
would inherit a CUDA context it cannot use), so torch is imported in the task body only.

Start a worker per GPU (each runs one experiment at a time):

    CUDA_VISIBLE_DEVICES=0 celery -A worker.app worker -Q celery -c 1 -n gpu0@%h

and one maintenance worker with the embedded beat (dispatcher + reaper; needs no GPU):

    celery -A worker.app worker -Q silab.maintain -c 1 -B -n maintain@%h

On one machine for development, one process does both: `celery -A worker.app worker -B -c 1`
(it consumes both queues; silab.maintain then waits while a run is in progress, which is harmless
because its messages expire and nothing else could run meanwhile).

Why these settings (the database is the truth; Celery only rings the bell):
- task_ignore_result, no result backend: results and state live in the database.
- task_acks_late + worker_prefetch_multiplier=1: a worker reserves only the message it runs, and
  the message is acknowledged after the run, so a worker that dies before its claim does not lose
  it. A redelivery after the claim is harmless: the claim is a conditional UPDATE that matches
  only a queued experiment, so a second delivery does nothing.
- task_reject_on_worker_lost: a child killed mid-task (OOM, segfault) has its message requeued
  rather than acknowledged. The known pitfall, a message that kills every worker forever, cannot
  happen here: the redelivered message finds the experiment still `running` and does nothing; the
  reaper requeues it when its lease runs out, and counts attempts against max_attempts.
- worker_cancel_long_running_tasks_on_connection_loss=False: a broker hiccup must not kill a
  multi-hour run; the message redelivered after reconnecting is a no-op for the same reason.
- visibility_timeout (Redis) much larger than the lease: Redis redelivers unacknowledged messages
  after it; with acks_late a run's message stays unacknowledged for the whole run. Redelivery is
  harmless but should be rare.
- Warm workers: the run child imports torch (and makes its CUDA context) once and keeps it
  across groups; it is recycled after worker_max_tasks_per_child = SILAB_WORKER_RECYCLE_GROUPS
  groups or once it holds worker_max_memory_per_child = SILAB_WORKER_RECYCLE_MB, so leaks,
  fragmentation and torch's caches never grow without bound. The parent never imports torch.
- worker_concurrency=1: one run per process, one process per GPU (CUDA_VISIBLE_DEVICES).
- silab.maintain has its own queue and its beat messages expire after one interval, so that
  maintenance rounds do not pile up behind a busy worker.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from db.messages import MAINTAIN, QUEUES, ROUTES, RUN_QUEUE
from worker.config import WorkerSettings
from worker.polling_transport import celery_broker


def make_app(settings: WorkerSettings | None = None) -> Celery:
    settings = settings or WorkerSettings()
    if settings.broker.startswith("sqla+sqlite:"):
        # SQLite creates the file but not its folder.
        settings.data_path.mkdir(parents=True, exist_ok=True)
    broker, transport = celery_broker(settings.broker, settings.broker_poll_s)
    app = Celery("silab", broker=broker, include=["worker.tasks"])
    app.conf.update(
        broker_transport=transport,
        broker_connection_retry_on_startup=True,
        broker_transport_options=settings.transport_options(),
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        # warm workers: the run child keeps torch (and a CUDA context) across groups
        worker_max_tasks_per_child=settings.worker_recycle_groups,
        worker_max_memory_per_child=settings.worker_recycle_mb * 1024,  # KiB
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_send_task_events=False,
        task_default_queue=RUN_QUEUE,
        task_queues=[Queue(name) for name in QUEUES],
        task_routes=ROUTES,
        timezone="UTC",
        enable_utc=True,
        beat_schedule=beat_schedule(settings),
    )
    app.silab_settings = settings
    return app


def beat_schedule(settings: WorkerSettings) -> dict[str, dict]:
    """silab.maintain every dispatch_interval_s (reap, then dispatch); when the reaper should run
    on another interval, a second entry reaps only."""
    if settings.reap_interval_s in (None, settings.dispatch_interval_s):
        return {
            "silab-maintain": {
                "task": MAINTAIN,
                "schedule": settings.dispatch_interval_s,
                "options": {"expires": settings.dispatch_interval_s},
            }
        }
    return {
        "silab-dispatch": {
            "task": MAINTAIN,
            "schedule": settings.dispatch_interval_s,
            "kwargs": {"reap": False},
            "options": {"expires": settings.dispatch_interval_s},
        },
        "silab-reap": {
            "task": MAINTAIN,
            "schedule": settings.reap_interval_s,
            "kwargs": {"dispatch": False},
            "options": {"expires": settings.reap_interval_s},
        },
    }


app = make_app()
