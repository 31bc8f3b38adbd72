"""A small Python client for the silab API.

    from client.python import SilabClient
    silab = SilabClient("http://127.0.0.1:8000")
    experiment = silab.submit("preset:tiny", name="smoke", tags=["demo"])
    done = silab.wait(experiment["id"], timeout=600)
    csv_text = silab.trace(experiment["id"], metrics=["mean_abs_m"], format="csv")

Every method returns the API's JSON (dicts) and raises SilabError with a readable message on an
HTTP error or when the server cannot be reached.
"""

from __future__ import annotations

from client.experiment_calls import BATCH_ITEMS, RAW_POINTS, ExperimentCalls
from client.sweep_calls import SweepCalls

__all__ = ["BATCH_ITEMS", "RAW_POINTS", "SilabClient"]


class SilabClient(ExperimentCalls, SweepCalls):
    """The silab API: the experiment calls (client.experiment_calls) and the sweep calls
    (client.sweep_calls) over one connection (client.connection)."""
