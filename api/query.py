"""Query parameters that several routes declare the same way."""

from __future__ import annotations

from fastapi import Query

# Filters on a sweep's axis values: `where=phase1.n=2000`.
WHERE = Query(description="AXIS=VALUE, repeatable")
# The weak-recovery threshold of the scaling fit and its plot.
THRESHOLD = Query(
    gt=0.0,
    lt=1.0,
    description="weak recovery = first Phase I point with `metric` "
    "≥ this (from the trace); omitted: each run's own weak_recovery_samples",
)
