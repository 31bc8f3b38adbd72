"""POST /experiments:batch, bulk submit: thousands of specs in one request. The work is
api.services.batches'."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from api.deps import ContextDep
from api.responses import INVALID, OVER_LIMIT, error
from api.schemas import ExperimentBatchCreate, ExperimentBatchPublic
from api.services import batch_keys, batches

router = APIRouter(prefix="/experiments", tags=["experiments"])
# A custom method in Google's AIP-136 style; its body limit is SILAB_MAX_BATCH_BYTES.
BATCH_PATH = "/experiments:batch"


@router.post(
    BATCH_PATH.removeprefix(router.prefix),
    status_code=status.HTTP_201_CREATED,
    response_model=ExperimentBatchPublic,
    summary="Submit many experiments at once",
    description="Up to SILAB_MAX_BATCH items (each one POST /experiments body), validated as a "
    "whole: a 422 lists every broken item, its `loc` naming the item's index and the field "
    '(`["body", "items", 3, "spec", "d"]`), and nothing is stored. They count '
    "together against the caller's queued limit and trace quota (429 when they do not all "
    "fit) and are stored "
    "with their tags and audit records in one transaction of multi-row INSERTs, then the "
    "dispatcher's doorbell rings once. Returns the ids in the order of the items. With an "
    "`Idempotency-Key` header, the same key and body return the first request's ids "
    "(header `Idempotent-Replayed: true`) and store nothing; the same key with another body "
    "is 409.",
    responses={
        **INVALID,
        **OVER_LIMIT,
        **error(409, "Idempotency-Key reused with a different body"),
        **error(413, "body above SILAB_MAX_BATCH_BYTES"),
    },
)
def submit_batch(
    body: ExperimentBatchCreate,
    ctx: ContextDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(min_length=1, max_length=batch_keys.MAX_KEY_CHARS, description="retry-safe batch"),
    ] = None,
) -> ExperimentBatchPublic:
    done = batches.submit_batch(body, ctx=ctx, idempotency_key=idempotency_key)
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return ExperimentBatchPublic(ids=done.ids, count=len(done.ids))
