"""The broker messages: task names and queues, for the worker that defines the tasks
(worker.app, worker.tasks) and the API that sends them by name without importing worker code
(api.broker). Both Celery apps route with `ROUTES` over `QUEUES`, so a message the API sends lands
in the queue the right worker listens on, on Redis and on the SQLite broker alike."""

from __future__ import annotations

RUN_EXPERIMENT = "silab.run_experiment"  # (experiment_id): a lone experiment, or a retry's
RUN_GROUP = "silab.run_group"  # (experiment_ids): one fused group, one worker slot
MAINTAIN = "silab.maintain"  # (reap=, dispatch=): beat's round, and the doorbell
# The doorbell is MAINTAIN(reap=False), rung by the API after a submit and by a run worker after a
# group; a ring not taken within this long is dropped: beat's periodic round covers it anyway.
RING_EXPIRES_S = 60

RUN_QUEUE = "celery"  # Celery's default queue: runs are sent without naming one
MAINTAIN_QUEUE = "silab.maintain"  # the maintenance worker's own, so rounds never wait on a run
QUEUES = (RUN_QUEUE, MAINTAIN_QUEUE)
ROUTES = {MAINTAIN: {"queue": MAINTAIN_QUEUE}}
