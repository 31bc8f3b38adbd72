"""The error responses routes declare in OpenAPI (what api.errors sends for each domain error)."""

from __future__ import annotations

from typing import Any

from api.schemas import ErrorPublic, ValidationErrorPublic


def error(code: int, description: str) -> dict[int | str, dict[str, Any]]:
    """An error response with the plain `{"detail": "..."}` body."""
    return {code: {"model": ErrorPublic, "description": description}}


NOT_FOUND = error(404, "no experiment with this id")
SWEEP_NOT_FOUND = error(404, "no sweep with this id")
CONFLICT = error(409, "not possible in the current status")
FORBIDDEN = error(403, "only the owner or an admin may")
OVER_LIMIT = error(
    429, "over the user's queued-experiments limit or trace quota (the message says by how much)"
)
INVALID: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ValidationErrorPublic,
        "description": "invalid input; `loc` names the field, e.g. "
        '["body","spec","phase1","stages",0,"lr"]',
    }
}
CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}
IMAGE: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}, "image/svg+xml": {}}}}
