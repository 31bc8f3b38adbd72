"""Worker test helpers: small real specs, and experiments inserted as the API would."""

from __future__ import annotations

from typing import Any

import spec_factory
from sqlalchemy.orm import Session, sessionmaker

from db.models import Experiment
from trainer.spec import ExperimentSpec


def small_spec(**kwargs: Any) -> dict[str, Any]:
    """spec_factory.small_spec, validated and dumped with its defaults as the API stores it."""
    return ExperimentSpec.model_validate(spec_factory.small_spec(**kwargs)).model_dump(mode="json")


def insert_experiment(sessions: sessionmaker[Session], spec: dict[str, Any], **columns: Any) -> int:
    """Insert a queued experiment the way the API does (validated spec, denormalized columns)."""
    validated = ExperimentSpec.model_validate(spec)
    resolved = validated.resolved()
    values: dict[str, Any] = {
        "name": "worker-test",
        "owner": "tester",
        "spec": validated.model_dump(mode="json"),
        "spec_hash": validated.spec_hash(),
        "target": "h3",
        "algorithm": validated.phase1.algorithm,
        "d": validated.d,
        "width": resolved.N,
        "seeds": len(validated.seed_list),
        "samples_total": resolved.total_samples,
    }
    values.update(columns)
    with sessions() as session:
        experiment = Experiment(**values)
        session.add(experiment)
        session.commit()
        return experiment.id
