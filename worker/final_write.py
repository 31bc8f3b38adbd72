"""The final write of a run (finish, fail, cancelled), retried until it lands.

A run that ends while the database is unreachable must not throw its result away: without a
retry the row stays `running` until its lease expires and the run is redone from its last
checkpoint (2 of 2 such runs recomputed ~90% of their work). So the write is retried with
exponential backoff (tenacity) on the errors that mean "cannot reach the database" and only
those, until it lands, until the conditional UPDATE says the attempt no longer owns the
experiment (reaped or superseded: then it returns False), or until `final_write_retry_s` has
passed (the process then gives the run up; the reaper requeues it after the lease).

`write` runs in a fresh session each try: a transaction broken by a lost connection cannot be
reused, and the buffered trace points a try failed to write are put back by the caller's code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

log = logging.getLogger(__name__)

# Backoff between tries: 0.2 s doubling to at most this, so a database that is back is seen
# within a couple of seconds (before the reaper, which runs every few seconds, can act).
MAX_WAIT_S = 2.0


def unreachable(error: BaseException) -> bool:
    """The database could not be reached (server down or restarting, connection dropped, pool
    exhausted, SQLite locked): worth another try. Anything else is a bug, raised at once."""
    if isinstance(error, (OperationalError, InterfaceError, SqlTimeoutError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def land(
    write: Callable[[Session], bool],
    *,
    sessions: sessionmaker[Session],
    what: str,
    retry_for_s: float,
) -> bool:
    """`write(session)` then commit, retried while the database is unreachable. Returns what
    `write` returned (False: the attempt lost the experiment; nothing was written). Raises the
    last error when the database stayed unreachable for `retry_for_s`."""

    def note(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("%s: database unreachable (try %s): %s", what, state.attempt_number, error)

    def once() -> bool:
        with sessions() as session:
            done = write(session)
            session.commit()
            return done

    retrying = Retrying(
        retry=retry_if_exception(unreachable),
        wait=wait_exponential(multiplier=0.2, max=MAX_WAIT_S),
        stop=stop_after_delay(retry_for_s),
        before_sleep=note,
        reraise=True,
    )
    done: bool = retrying(once)
    return done
