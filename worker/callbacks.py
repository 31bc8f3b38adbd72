"""RunCallbacks: the trainer's callbacks for one attempt, and the heartbeat thread behind them.

Liveness: after the claim a background thread (`RunCallbacks`) heartbeats every
heartbeat_seconds: it extends the lease, records samples_done, flushes the buffered trace points
and learns about a cancel. The trainer's `should_stop` only reads a flag that thread sets, so
it costs an attribute read however often the trainer calls it. A thread rather than a heartbeat
"when due" inside should_stop/on_eval, because the lease must mean "this process is alive", not
"the trainer called us recently": importing torch, initialising CUDA, a long evaluation or a
Phase II ridge fit can each take longer than a short lease, and a live run must not be reaped for
that. (The price: a trainer hung in a loop that never calls should_stop keeps its lease; a cancel
then waits for it.)

No trace point is ever lost or doubled: the points are kept in chunks (db.traces), each flush
upserts the changed chunks whole, and each checkpoint is saved in the same transaction as the
chunks holding every point emitted before it. An attempt resumed from a checkpoint at step s
reloads the open chunks, keeps their points up to s, and re-emits exactly the points after it
onto the same chunk keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from celery.utils.log import get_task_logger
from sqlalchemy.orm import Session, sessionmaker

from db import queue, traces
from trainer.results import EvalPoint
from worker.config import WorkerSettings

log = get_task_logger(__name__)


class RunCallbacks:
    """The trainer's callbacks for one attempt, and the heartbeat thread behind them.

    Threads: the trainer (main thread) calls on_eval, should_stop and on_checkpoint; the
    heartbeat thread writes. `_buffer_lock` guards the buffer (held for a list append or swap);
    `_write_lock` serialises the database writes of trace points and checkpoints, so that a
    checkpoint is never committed before points emitted earlier (see the module docstring).
    """

    def __init__(
        self,
        experiment_id: int,
        attempt: int,
        *,
        sessions: sessionmaker[Session],
        settings: WorkerSettings,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.experiment_id = experiment_id
        self.attempt = attempt
        self.sessions = sessions
        self.settings = settings
        self.samples_done = 0
        self.stop = False  # what should_stop returns; set by the heartbeat thread
        self.lost = False  # the attempt no longer owns the experiment: write nothing more
        self.cancel_requested = False
        self._chunks = traces.OpenChunks()
        self._buffer_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._beat_loop, name=f"silab-heartbeat-{experiment_id}", daemon=True
        )

    # -------------------------------------------------------------------- trainer callbacks
    def on_eval(self, point: EvalPoint) -> None:
        with self._buffer_lock:
            self._chunks.add(
                phase=point.phase,
                step=point.step,
                samples=point.samples,
                seeds=point.seeds,
                metrics=point.metrics,
            )
            self.samples_done = max(self.samples_done, point.samples)

    def resume_trace(self, step: int) -> None:
        """Before a resumed run emits anything: reopen the chunks stored up to `step`."""
        with self._write_lock, self._buffer_lock, self.sessions() as session:
            self._chunks.reload(session=session, experiment_id=self.experiment_id, upto_step=step)

    def should_stop(self) -> bool:
        return self.stop

    def on_progress(self, step: int, samples: int) -> None:
        """Between evaluations: the next heartbeat moves samples_done (issue 12)."""
        self.samples_done = max(self.samples_done, samples)

    def on_checkpoint(self, state: dict[str, Any]) -> None:
        from trainer import checkpoint

        data = checkpoint.dumps(state)
        samples = int(state.get("samples", self.samples_done) or 0)
        try:
            saved = self._points_then(
                lambda session: queue.save_checkpoint(
                    self.experiment_id,
                    session=session,
                    attempt=self.attempt,
                    samples=samples,
                    state=data,
                )
            )
        except Exception as error:  # a database hiccup skips one checkpoint, no more
            log.exception(
                "experiment %s: checkpoint not saved: %s", self.experiment_id, _reason(error)
            )
            return
        if saved is False:  # refused: another attempt owns the experiment now
            self._lose()

    # ------------------------------------------------------------------------ the heartbeat
    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop the heartbeat thread (the pending points stay in the buffer)."""
        self._closed.set()
        self._thread.join(timeout=max(30.0, 2 * self.settings.heartbeat_seconds))

    def beat(self) -> None:
        """One heartbeat: write the buffered points, extend the lease, read the cancel flag."""
        reply = self._points_then(
            lambda session: queue.heartbeat(
                self.experiment_id,
                session=session,
                attempt=self.attempt,
                lease_seconds=self.settings.lease_seconds,
                samples_done=self.samples_done,
            )
        )
        if reply is None:
            return
        if not reply.alive:
            self._lose()
        elif reply.cancel_requested and not self.cancel_requested:
            log.info("experiment %s: cancel requested; stopping", self.experiment_id)
            self.cancel_requested = True
            self.stop = True

    def _points_then(self, action: Callable[[Session], Any]) -> Any:
        """Under the write lock and in one transaction: the buffered trace points, then `action`.
        Commits when `action` returns something truthy, else rolls back (a refused checkpoint
        keeps nothing). None, writing nothing, once the attempt is lost. On an error the points go
        back into the buffer and the error propagates."""
        with self._write_lock:
            if self.lost:
                return None
            rows = self._take()
            try:
                with self.sessions() as session:
                    traces.upsert(
                        self.experiment_id, session=session, attempt=self.attempt, rows=rows
                    )
                    outcome = action(session)
                    if outcome:
                        session.commit()
                    else:
                        session.rollback()
            except Exception:
                self._put_back(rows)
                raise
            if outcome:
                self._written(rows)
            else:
                self._put_back(rows)
            return outcome

    def flush(self) -> None:
        """Write the buffered points now (its own transaction)."""
        with self._write_lock:
            with self.sessions() as session:
                rows = self._write_pending_locked(session)
                try:
                    session.commit()
                except Exception:
                    self._put_back(rows)
                    raise
            self._written(rows)

    def write_pending(self, session: Session) -> None:
        """Add the buffered points to the caller's transaction (the caller commits). The chunks
        stay pending, so a caller that retries its transaction writes them again."""
        with self._write_lock, self._buffer_lock:
            rows = self._chunks.peek()
        traces.upsert(self.experiment_id, session=session, attempt=self.attempt, rows=rows)

    def _write_pending_locked(self, session: Session) -> list[traces.ChunkRow]:
        rows = self._take()
        try:
            traces.upsert(self.experiment_id, session=session, attempt=self.attempt, rows=rows)
        except Exception:
            self._put_back(rows)
            raise
        return rows

    def _beat_loop(self) -> None:
        while not self._closed.wait(self.settings.heartbeat_seconds):
            try:
                self.beat()
            except Exception as error:  # the database may come back before the lease ends
                log.warning(
                    "experiment %s: heartbeat failed: %s",
                    self.experiment_id,
                    _reason(error),
                    exc_info=True,
                )
            if self.lost:
                return

    def _lose(self) -> None:
        if not self.lost:
            log.warning(
                "experiment %s attempt %s lost its lease; stopping",
                self.experiment_id,
                self.attempt,
            )
        self.lost = True
        self.stop = True
        with self._buffer_lock:
            self._chunks.clear()

    def _take(self) -> list[traces.ChunkRow]:
        with self._buffer_lock:
            return self._chunks.take()

    def _put_back(self, rows: list[traces.ChunkRow]) -> None:
        with self._buffer_lock:
            self._chunks.failed(rows)

    def _written(self, rows: list[traces.ChunkRow]) -> None:
        with self._buffer_lock:
            self._chunks.written(rows)


def _reason(error: BaseException) -> str:
    """The driver's one line ("database or disk is full", "connection refused"), first in the
    log line, so that the cause is read without the traceback."""
    lines = str(getattr(error, "orig", None) or error).splitlines()
    return lines[0][:200] if lines else type(error).__name__
