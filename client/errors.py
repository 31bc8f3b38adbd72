"""The client's one exception, and the API's error answers as one readable line (422 issues as
`field.path: message`, with a "did you mean" for an unknown field)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import httpx


class SilabError(Exception):
    """An HTTP error (status set) or an unreachable server (status None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _loc(issue: Mapping[str, Any]) -> list[str]:
    loc = [str(part) for part in issue.get("loc", [])]
    return loc[1:] if loc[:1] in (["body"], ["query"], ["path"]) else loc


def _issue_line(issue: Mapping[str, Any]) -> str:
    """`field.path: message` for one 422 issue (the API already left pydantic's union members
    out of `loc` and its prefixes out of `msg`: api/errors.py)."""
    where = ".".join(_loc(issue)) or "request"
    return f"{where}: {issue.get('msg', issue)}"


def field_names(schema: Any) -> set[str]:
    """Every property name anywhere in a JSON schema (an OpenAPI document included)."""
    names: set[str] = set()
    if isinstance(schema, dict):
        names.update(k for k in (schema.get("properties") or {}) if isinstance(k, str))
        for value in schema.values():
            names |= field_names(value)
    elif isinstance(schema, list):
        for value in schema:
            names |= field_names(value)
    return names


def _did_you_mean(issue: Mapping[str, Any], known: set[str]) -> str:
    """For an unknown field, the closest known field name (`axis` -> `axes`)."""
    loc = _loc(issue)
    if issue.get("type") != "extra_forbidden" or not loc or not known:
        return ""
    close = difflib.get_close_matches(loc[-1], sorted(known - {loc[-1]}), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe(response: httpx.Response, known: set[str] | None = None) -> str:
    """The API's error as one readable line: 422 issues as `field.path: message`, joined by
    '; ' (the first few, with a count of the rest). `known`: field names for "did you mean"."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = response.text.strip() or response.reason_phrase
    if isinstance(detail, list):
        issues = detail
        lines = list(
            dict.fromkeys(_issue_line(i) + _did_you_mean(i, known or set()) for i in issues)
        )
        shown = "; ".join(lines[:4]) + (f"; and {len(lines) - 4} more" if len(lines) > 4 else "")
        return f"invalid request: {shown}"
    return " ".join(str(detail).split())
