"""/meta: the names the API uses and what they mean, so the dashboard holds no copy of them.
Open like /openapi.json: it describes the API, not anyone's data."""

from __future__ import annotations

from fastapi import APIRouter

from api import labels
from api.schemas import SORT_KEYS
from api.schemas.meta import FieldPublic, MetaPublic, MetricPublic
from api.sweep_cells import SEED_FIELDS
from trainer.results import DEFAULT_METRIC, METRIC_INFO

router = APIRouter(tags=["meta"])


@router.get("/meta", response_model=MetaPublic, summary="Metric and field names with labels")
def meta() -> MetaPublic:
    return MetaPublic(
        metrics=[
            MetricPublic(
                name=m.name, label=m.label, kind=m.kind, log_scale=m.log_scale, better=m.better
            )
            for m in METRIC_INFO
        ],
        default_metric=DEFAULT_METRIC,
        fields=[
            FieldPublic(name=f.name, label=f.label, log_scale=f.log_scale, better=f.better)
            for f in labels.FIELDS
        ],
        cell_fields=list(SEED_FIELDS),
        cell_columns=list(labels.CELL_COLUMNS),
        sort_keys=list(SORT_KEYS),
        labels=labels.labels(),
    )
