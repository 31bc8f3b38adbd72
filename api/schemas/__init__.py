"""Request and response bodies, one module per resource. Requests end in Create, responses in
Public. Everything is importable from here (`from api.schemas import ExperimentPublic`)."""

from __future__ import annotations

from api.schemas.accounts import (
    AuditEventPublic,
    AuditPublic,
    MePublic,
)
from api.schemas.common import (
    ErrorPublic,
    ReadinessPublic,
    ValidationErrorPublic,
    ValidationIssuePublic,
)
from api.schemas.experiments import (
    PRIORITY_LEVELS,
    SORT_KEYS,
    ExperimentBatchCreate,
    ExperimentBatchPublic,
    ExperimentCreate,
    ExperimentPublic,
    ExperimentsPublic,
    PriorityChange,
    PriorityName,
    SpecCreate,
    SpecValidationPublic,
    Tag,
)
from api.schemas.queue import PositionPublic
from api.schemas.sweeps import (
    AxisCreate,
    AxisPath,
    ScalingPublic,
    SweepCellsPublic,
    SweepCreate,
    SweepPublic,
    SweepsPublic,
    ZipAxisCreate,
)
from api.schemas.traces import TRACE_METRICS, TracePointPublic, TracePublic

__all__ = [
    "PRIORITY_LEVELS",
    "SORT_KEYS",
    "TRACE_METRICS",
    "AuditEventPublic",
    "AuditPublic",
    "AxisCreate",
    "AxisPath",
    "ErrorPublic",
    "ExperimentBatchCreate",
    "ExperimentBatchPublic",
    "ExperimentCreate",
    "ExperimentPublic",
    "ExperimentsPublic",
    "MePublic",
    "PositionPublic",
    "PriorityChange",
    "PriorityName",
    "ReadinessPublic",
    "ScalingPublic",
    "SpecCreate",
    "SpecValidationPublic",
    "SweepCellsPublic",
    "SweepCreate",
    "SweepPublic",
    "SweepsPublic",
    "Tag",
    "TracePointPublic",
    "TracePublic",
    "ValidationErrorPublic",
    "ValidationIssuePublic",
    "ZipAxisCreate",
]
