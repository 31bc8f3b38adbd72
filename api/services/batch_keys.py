"""An Idempotency-Key for POST /experiments:batch: one idempotency_key row per item (`KEY#i`),
each with the hash of the whole batch, so that a batch sent again after a lost answer returns the
ids the first request created instead of storing everything twice."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from api.services.errors import Conflict
from db.models import IdempotencyKey

# The header's longest key: the item rows append "#<index>" within the column's 200 characters.
MAX_KEY_CHARS = 190


def _item(key: str, index: int) -> str:
    return f"{key}#{index}"


def replay(
    session: Session, owner: str, key: str, request_hash: str, count: int
) -> list[int] | None:
    """The ids an earlier batch with this key created (those not deleted since), in item order;
    None when the key is new. Conflict when it was used for a different batch."""
    first = session.get(IdempotencyKey, (owner, _item(key, 0)))
    if first is None:
        return None
    if first.request_hash != request_hash:
        raise Conflict(
            f"Idempotency-Key {key!r} was used for a different batch (its first experiment "
            f"{first.experiment_id}); use a new key for a new batch"
        )
    keys = [_item(key, i) for i in range(count)]
    found = dict(
        session.execute(
            select(IdempotencyKey.key, IdempotencyKey.experiment_id).where(
                IdempotencyKey.owner == owner, IdempotencyKey.key.in_(keys)
            )
        ).all()
    )
    return [found[k] for k in keys if k in found]


def remember(session: Session, owner: str, key: str, request_hash: str, ids: list[int]) -> None:
    """One row per item, in the batch's transaction (multi-row INSERT)."""
    rows = [
        {"owner": owner, "key": _item(key, i), "request_hash": request_hash, "experiment_id": e}
        for i, e in enumerate(ids)
    ]
    session.execute(insert(IdempotencyKey), rows)
