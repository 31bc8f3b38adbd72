"""The client's copy of the statuses (it may not import the server's) is the server's."""

from __future__ import annotations

from client import status as client_status
from db import models


def test_experiment_statuses_agree() -> None:
    assert [s.value for s in client_status.Status] == [s.value for s in models.Status]
    assert client_status.TERMINAL == models.TERMINAL
    assert client_status.WITH_RESULTS == models.FINISHED_WITH_RESULT


def test_sweep_statuses_agree() -> None:
    assert [s.value for s in client_status.SweepStatus] == [s.value for s in models.SweepStatus]
