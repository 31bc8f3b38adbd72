"""Rows of dicts as CSV text, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from api.aggregate import get_path, is_missing

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    text = str(value)
    # A text cell that a spreadsheet would run as a formula (names and tags are user input) gets a
    # leading apostrophe (OWASP "CSV injection"); numbers written as text are left alone.
    if text.startswith(_FORMULA_START) and is_missing(text):
        return "'" + text
    return text


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV text with a header row; columns may be dotted paths ("test_mse.mean").

    None is an empty cell, floats round-trip (repr), lists and dicts are JSON, booleans
    true/false."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(get_path(row, column)) for column in columns])
    return buffer.getvalue()
