"""Worker test helpers: small real specs, and experiments inserted as the API would."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from db.models import Experiment
from trainer.spec import ExperimentSpec

# σ = He_3 normalized to unit norm: h_3 = He_3/√6, so c_3 = √6 gives σ = He_3.
HE3 = {3: 6**0.5}


def small_spec(
    *, steps: int = 64, points: int = 4, every: int | None = None, seeds: int = 2
) -> dict[str, Any]:
    """A d = 16, N = 8 reuse spec of `steps` outer steps (batch 1) and a small Phase II."""
    data: dict[str, Any] = {
        "d": 16,
        "seeds": seeds,
        "target": "h3",
        "model": {"width": 8, "activation": {"hermite": HE3}},
        "phase1": {
            "algorithm": "reuse",
            "batch_size": 1,
            "stages": [{"steps": steps, "inner_lr": "0.3/d", "lr": "0.05/(d*log(d))"}],
        },
        "phase2": {"samples": 200},
        "eval": {"test_samples": 64, "points": points},
        "device": "cpu",
    }
    if every is not None:
        data["eval"]["every"] = every
    return ExperimentSpec.model_validate(data).model_dump(mode="json")


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
