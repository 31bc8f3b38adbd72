"""GET /meta serves the metric registry (trainer.results) and labels; the dashboard reads them
there and holds no copy of its own."""

from __future__ import annotations

import re
from pathlib import Path

from api.labels import label
from trainer.results import DEFAULT_METRIC, METRIC_INFO, METRICS

STATIC = Path(__file__).resolve().parents[2] / "api" / "static"


def test_meta_serves_every_metric_with_its_scale_and_direction(make_client) -> None:
    anonymous = make_client(user=None)  # open: it describes the API, not anyone's data
    response = anonymous.get("/meta")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [m["name"] for m in body["metrics"]] == list(METRICS)
    by_name = {m["name"]: m for m in body["metrics"]}
    for metric in METRIC_INFO:
        assert by_name[metric.name] == {
            "name": metric.name,
            "label": metric.label,
            "kind": metric.kind,
            "log_scale": metric.log_scale,
            "better": metric.better,
        }
    assert by_name["test_mse"]["log_scale"] and by_name["test_mse"]["better"] == "lower"
    assert not by_name["median_abs_m"]["log_scale"]
    assert body["default_metric"] == DEFAULT_METRIC
    assert set(body["cell_columns"]) <= set(body["cell_fields"])
    assert body["labels"]["phase1.stages.0.lr"] == "Phase I step size γ"


def test_the_dashboard_has_no_copy_of_the_metric_names() -> None:
    """No metric name of the registry appears as a literal in the dashboard's files: every
    list, label and default comes from GET /meta."""
    found = []
    for path in sorted(STATIC.glob("*.*")):
        if path.suffix not in (".js", ".html"):
            continue
        text = path.read_text()
        for name in METRICS:
            if re.search(rf"""["'`]-?{name}["'`]""", text):
                found.append(f"{path.name}: {name}")
    assert not found, f"metric names hard-coded in the dashboard: {found}"


def test_labels_read_as_words_not_paths() -> None:
    assert label("phase1.stages.1.inner_lr") == "Phase I inner step size η (stage 2)"
    assert label("phase1.batch_size") == "batch size B"
    assert label("phase2.bias_range") == "Phase II bias range"
    assert label("test_mse") == "test error (MSE)"
    assert label("weak_recovery_samples") == "samples to weak recovery"
