"""Bodies every resource shares: errors (a message, or the fields of a 422) and readiness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ErrorPublic(BaseModel):
    detail: str


class ValidationIssuePublic(BaseModel):
    loc: list[str | int] = Field(description='where, e.g. ["body","spec","phase1","stages",0,"lr"]')
    msg: str
    type: str


class ValidationErrorPublic(BaseModel):
    detail: list[ValidationIssuePublic]


class ReadinessPublic(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(description="'ok' or why each dependency failed")
