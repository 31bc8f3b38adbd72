"""Lost run messages are sent again as soon as the broker is seen empty, not after a fixed
SILAB_RESEND_AFTER_S.

A sent, unclaimed experiment holds its worker slot until its message is claimed or is
`resend_after_s` old (600 s): otherwise a slow claim would get a second message. But a Redis
restart without persistence loses every waiting message, and then 3 experiments started
602–632 s later while 2 workers sat idle. When the run queue holds no message at all, a message
sent more than `lost_after_s` ago and still unclaimed is either in a worker's hands this very
moment (it claims within seconds) or gone: sending it again costs at worst a duplicate, which the
conditional claim makes harmless. So while the queue is empty the resend interval drops to
`lost_after_s`; while messages wait there, nothing was lost and the long interval stays.
"""

from __future__ import annotations

import logging

from celery import Celery
from kombu.exceptions import ChannelError

log = logging.getLogger(__name__)


def queue_is_empty(app: Celery, queue: str) -> bool | None:
    """Whether the broker's `queue` holds no message (None: the broker did not answer).
    A passive declare asks for the depth without creating anything; kombu answers it for
    Redis and the SQLAlchemy transport alike, and answers 404 for a queue that holds nothing
    (Redis keeps no empty list, and a restarted Redis has forgotten the queue)."""
    try:
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            declared = channel.queue_declare(queue=queue, passive=True)
            return int(declared.message_count) == 0
    except ChannelError as error:
        if str(getattr(error, "reply_code", "")) == "404":
            return True
        log.info("lost messages: broker did not report %s's depth: %s", queue, error)
        return None
    except Exception as error:  # noqa: BLE001 - a broker that is down answers nothing
        log.info("lost messages: broker did not report %s's depth: %s", queue, error)
        return None


def resend_after(app: Celery, queue: str, *, resend_after_s: float, lost_after_s: float) -> float:
    """The resend interval for this round: `lost_after_s` when the run queue is empty."""
    if queue_is_empty(app, queue):
        return min(resend_after_s, lost_after_s)
    return resend_after_s
