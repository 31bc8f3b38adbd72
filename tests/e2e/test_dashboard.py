"""The dashboard in a real headless browser (Debian's chromium + chromium-driver, driven by
selenium): a real `python -m api` on a loopback port over a SQLite database holding a
sweep of experiments with traces (inserted through db directly). The key dialog, filters and
hyperparameter columns, the comparison overlay and grouping, live updates over SSE, the sweep's
curves and scaling plot, two sweeps' scaling on one chart, and /docs without internet.
Screenshots go to the test's tmp folder (SILAB_SCREENSHOTS names another; docs/screenshots
holds the ones we looked at).

`scripts/setup --test` (scripts/test) installs chromium and chromium-driver when they are missing
(as root, with apt-get). Without them these tests are SKIPPED locally and FAIL when CI=true.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from db.config import DbSettings
from db.models import Experiment, Sweep
from db.session import make_engine, make_sessionmaker
from tests.conftest import TEST_ENV, alembic_upgrade
from tests.e2e.e2e_helpers import Stack, wait_until
from tests.trace_helpers import add_points
from trainer.results import METRIC_INFO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def _binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
    )
    try:
        import selenium  # noqa: F401
    except ImportError as error:
        chromium = None
        missing = f"selenium ({error})"
    else:
        missing = "chromium and chromium-driver (scripts/setup --test installs them)"
    if not chromium or not driver:
        message = f"the browser test needs {missing}"
        if TEST_ENV.ci:
            pytest.fail(f"{message} (CI=true: a missing browser is a failure)", pytrace=False)
        pytest.skip(message)
    return chromium, driver


@pytest.fixture
def browser(tmp_path: Path):
    chromium, driver = _binaries()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    options.add_argument(f"--user-data-dir={profile}")
    service = Service(executable_path=driver, log_output=str(tmp_path / "chromedriver.log"))
    drv = webdriver.Chrome(options=options, service=service)
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()


def _experiment(name: str, d: int, n: str, status: str, recovery: list[float | None]) -> Experiment:
    seeds = [
        {
            "seed": i,
            "test_mse": 0.2 + 0.2 * i,
            "final_mean_abs_m": 0.7 + 0.2 * i,
            "weak_recovery_samples": r,
        }
        for i, r in enumerate(recovery)
    ]
    return Experiment(
        name=name,
        owner="alice",
        spec={"d": d, "target": "h3", "phase1": {"algorithm": "reuse", "n": n, "batch_size": 4}},
        spec_hash="0" * 64,
        target="h3",
        algorithm="reuse",
        d=d,
        width=8,
        seeds=len(recovery),
        status=status,
        samples_total=1000,
        samples_done=1000 if status == "completed" else 320,
        final_median_abs_m=0.8 if status == "completed" else None,
        test_mse=0.3 if status == "completed" else None,
        result={"seeds": seeds} if status == "completed" else None,
    )


def _points(experiment_id: int, d: int, steps: range) -> list[dict]:
    return [
        {
            "experiment_id": experiment_id,
            "attempt": 1,
            "seed": seed,
            "phase": "phase1",
            "step": step,
            "samples": step * 16,
            "median_abs_m": min(1.0, step / (d / 2) + 0.05 * seed),
            "mean_abs_m": min(1.0, step / d),
            "train_loss": 1.0 / step,
            "test_mse": 1.0 / step,
        }
        for seed in (0, 1)
        for step in steps
    ]


def _sweep(session, name: str, sweep_hash: str, scale: float) -> tuple[Sweep, list[Experiment]]:
    sweep = Sweep(
        name=name,
        owner="alice",
        sweep_hash=sweep_hash,
        definition={"base": {}, "axes": [{"path": "d", "values": [16, 32, 64]}]},
        axes=["d", "phase1.n"],
        cells=6,
        experiments_total=6,
    )
    session.add(sweep)
    session.flush()
    rows = []
    for d in (16, 32, 64):
        for n in ("8*d", "16*d"):
            e = _experiment(
                f"{name}: d={d} phase1.n={n}",
                d,
                n,
                "completed",
                [scale * d**1.5, scale * 1.2 * d**1.5],
            )
            e.sweep_id, e.cell_key = sweep.id, f'{{"d":{d},"phase1.n":"{n}"}}'
            session.add(e)
            rows.append(e)
    session.flush()
    for e in rows:
        add_points(session, _points(e.id, e.d, range(1, 21)))
    return sweep, rows


def _seed_database(url: str) -> dict[str, int]:
    """Two sweeps over d × phase1.n (every member with a two-seed trace), an experiment outside
    any sweep, and a running one whose trace the test extends while the browser watches."""
    engine = make_engine(DbSettings(database_url=url))
    with make_sessionmaker(engine)() as session:
        first, members = _sweep(session, "reuse sweep", "a" * 64, 1.0)
        second, _ = _sweep(session, "online sweep", "b" * 64, 0.2)
        loose = _experiment("gamma alone", 48, "4*d", "completed", [100.0, None])
        running = _experiment("live one", 16, "8*d", "running", [])
        session.add_all([loose, running])
        session.flush()
        add_points(session, _points(running.id, 16, range(1, 6)))
        session.commit()
        ids = {
            "first": first.id,
            "second": second.id,
            "members": [m.id for m in members],
            "loose": loose.id,
            "running": running.id,
        }
    engine.dispose()
    return ids


def _extend_trace(url: str, experiment_id: int, steps: range) -> None:
    engine = make_engine(DbSettings(database_url=url))
    with make_sessionmaker(engine)() as session:
        add_points(session, _points(experiment_id, 16, steps))
        row = session.get(Experiment, experiment_id)
        row.samples_done = steps[-1] * 16
        session.commit()
    engine.dispose()


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SILAB_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _series(browser, box_id: str) -> int:
    return int(browser.find_element(By.ID, box_id).get_attribute("data-series") or 0)


def _budget(browser, url: str) -> float:
    """Seconds each wait may take: a wide multiple of this browser's first page load here (a
    loaded 2-core machine renders 10x slower than an idle one; fixed 20 s did not hold)."""
    started = time.monotonic()
    browser.get(url)
    return 30.0 + 40.0 * (time.monotonic() - started)


def _wait(
    budget: float, condition: Callable[[], Any], what: str, diagnose: Callable[[], str] = str
) -> Any:
    """wait_until, where an element that went stale counts as not yet: the list re-renders on
    every poll, so a row found a moment ago may be gone when it is read."""

    def settled() -> Any:
        try:
            return condition()
        except StaleElementReferenceException:
            return None

    return wait_until(settled, budget, what, diagnose)


def _pick(browser, budget: float, body: str, row_id: str) -> None:
    """Tick a row's checkbox; a poll may re-render the row between finding and clicking it, so
    look it up again until the tick shows (the selection survives re-renders)."""
    selector = f'#{body} tr[data-id="{row_id}"] input.pick'

    def ticked() -> bool:
        box = browser.find_element(By.CSS_SELECTOR, selector)
        if not box.is_selected():
            box.click()
        return browser.find_element(By.CSS_SELECTOR, selector).is_selected()

    _wait(budget, ticked, f"row {row_id} of #{body} to be picked")


@pytest.fixture
def dashboard(browser, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'silab.db'}"
    alembic_upgrade(url)
    ids = _seed_database(url)
    stack = Stack(tmp_path, url, f"sqla+sqlite:///{tmp_path / 'broker.db'}")
    try:
        base = stack.api()
        key = (tmp_path / "data" / "admin.key").read_text().strip()
        yield {
            "base": base,
            "key": key,
            "ids": ids,
            "url": url,
            "shots": _shots(tmp_path),
            "budget": _budget(browser, f"{base}/health"),
        }
    finally:
        stack.close()


def test_the_key_dialog_says_where_the_key_is(browser, dashboard) -> None:
    budget = dashboard["budget"]
    browser.get(f"{dashboard['base']}/ui/")
    dialog = browser.find_element(By.ID, "key-dialog")
    _wait(budget, lambda: dialog.get_attribute("open") is not None, "the key dialog to open")
    assert ".silab/admin.key" in dialog.text and "silab-admin create-key" in dialog.text
    assert "needs an API key" in dialog.text
    assert not browser.find_element(By.ID, "experiments-empty").is_displayed()  # not "no match"
    browser.save_screenshot(str(dashboard["shots"] / "key-dialog.png"))
    browser.find_element(By.ID, "api-key").send_keys(dashboard["key"])
    browser.find_element(By.ID, "key-save").click()
    _wait(
        budget,
        lambda: len(browser.find_elements(By.CSS_SELECTOR, "#experiments-body tr")) == 14,
        "every experiment listed once the key is in",
        lambda: browser.find_element(By.ID, "error").text,
    )
    assert dialog.get_attribute("open") is None


def _log_in(browser, dashboard, path: str = "/ui/") -> None:
    browser.get(f"{dashboard['base']}/health")  # same origin, so the same localStorage
    browser.execute_script("localStorage.setItem('silab.key', arguments[0])", dashboard["key"])
    browser.get(f"{dashboard['base']}{path}")


def test_filters_columns_and_the_comparison_overlay(browser, dashboard) -> None:
    ids, budget = dashboard["ids"], dashboard["budget"]
    _log_in(browser, dashboard)

    def rows() -> list:
        return browser.find_elements(By.CSS_SELECTOR, "#experiments-body tr")

    def error() -> str:
        return browser.find_element(By.ID, "error").text

    _wait(budget, lambda: len(rows()) == 14, "the list", error)
    Select(browser.find_element(By.ID, "filter-sweep")).select_by_value(str(ids["first"]))
    _wait(
        budget,
        lambda: len(rows()) == 6,
        "the sweep filter to leave its six members",
        lambda: browser.find_element(By.ID, "error").text,
    )
    names = _wait(
        budget,
        lambda: [r.find_element(By.CSS_SELECTOR, ".cell-name").text for r in rows()],
        "the members' names",
    )
    assert "d=64 phase1.n=16*d" in names  # members tell apart by their cell, not the sweep name
    browser.find_element(By.ID, "filter-spec").send_keys("phase1.n=16*d")
    _wait(budget, lambda: len(rows()) == 3, "the spec filter to leave three")
    columns = browser.find_element(By.ID, "spec-columns")
    columns.send_keys("phase1.batch_size, phase1.n")
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", columns)
    heads = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "th.spec-column")]
    assert heads == ["batch size B", "training set size n"]  # labels from GET /meta
    assert _wait(budget, lambda: rows()[0].text, "the first row").count("16*d") >= 1
    browser.save_screenshot(str(dashboard["shots"] / "list.png"))

    browser.find_element(By.ID, "filter-spec").clear()
    browser.execute_script(
        "document.getElementById('filter-spec').dispatchEvent(new Event('input'))"
    )
    _wait(budget, lambda: len(rows()) == 6, "the six members again")
    picked = _wait(
        budget, lambda: [r.get_attribute("data-id") for r in rows()[:4]], "the first four rows"
    )
    for experiment_id in picked:
        _pick(browser, budget, "experiments-body", experiment_id)
    browser.find_element(By.ID, "compare-button").click()
    _wait(
        budget,
        lambda: _series(browser, "compare-chart") == 4,
        "four overlaid curves",
        lambda: browser.find_element(By.ID, "error").text,
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, "#compare-chart path.line")) == 4
    browser.save_screenshot(str(dashboard["shots"] / "compare.png"))

    Select(browser.find_element(By.ID, "compare-group")).select_by_value("d")
    _wait(
        budget,
        lambda: browser.find_element(By.ID, "compare-chart").get_attribute("data-grouped") == "1",
        "the grouped chart",
    )
    legend = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#compare-chart .legend")]
    assert len(legend) == 2 and all(t.startswith("dimension d = ") for t in legend), legend
    assert len(browser.find_elements(By.CSS_SELECTOR, "#compare-chart path.band")) == 2
    browser.save_screenshot(str(dashboard["shots"] / "compare-grouped.png"))


def test_a_running_experiment_updates_live(browser, dashboard) -> None:
    ident, budget = dashboard["ids"]["running"], dashboard["budget"]
    _log_in(browser, dashboard, f"/ui/#/experiments/{ident}")
    chart = browser.find_element(By.ID, "plot")
    _wait(
        budget,
        lambda: chart.get_attribute("data-points") == "10",
        "the first ten points",
        lambda: browser.find_element(By.ID, "error").text,
    )
    _extend_trace(dashboard["url"], ident, range(6, 16))
    _wait(
        budget,
        lambda: chart.get_attribute("data-points") == "30",
        "the new points to stream in over SSE",
        lambda: chart.get_attribute("data-points"),
    )
    assert chart.get_attribute("data-live") == "1"
    assert browser.find_element(By.ID, "detail-title").text == f"#{ident} live one"
    _wait(
        budget,
        lambda: "240 of" in browser.find_element(By.ID, "detail-progress-text").text,
        "the progress from the status event",
    )
    browser.save_screenshot(str(dashboard["shots"] / "live.png"))
    # Another experiment: its own curves, never the previous one's.
    browser.get(f"{dashboard['base']}/ui/#/experiments/{dashboard['ids']['loose']}")
    _wait(
        budget,
        lambda: (
            browser.find_element(By.ID, "plot").get_attribute("data-experiment")
            == str(dashboard["ids"]["loose"])
        ),
        "the chart of the other experiment",
    )


def test_the_sweep_page_and_two_sweeps_scaling(browser, dashboard) -> None:
    ids, budget = dashboard["ids"], dashboard["budget"]
    _log_in(browser, dashboard, f"/ui/#/sweeps/{ids['first']}")
    _wait(
        budget,
        lambda: _series(browser, "sweep-curves") == 6,
        "a curve per cell",
        lambda: browser.find_element(By.ID, "error").text,
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, "#sweep-curves path.band")) == 6
    _wait(
        budget,
        lambda: (
            "d^1.5" in browser.find_element(By.ID, "scaling-fit").text
            or _series(browser, "sweep-scaling") >= 4
        ),
        "the scaling fit",
    )
    heatmap = browser.find_element(By.ID, "sweep-heatmap")
    _wait(
        2 * budget,
        lambda: browser.execute_script("return arguments[0].naturalWidth", heatmap) > 100,
        "the heatmap (a placeholder until then, never a broken image)",
        lambda: browser.find_element(By.ID, "sweep-heatmap-message").text,
    )
    cells = _wait(
        budget,
        lambda: [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#sweep-cells-body tr")],
        "the cells' rows",
    )
    assert len(cells) == 6 and "2/2 [" in cells[0]  # a Wilson interval for the fraction
    # Every metric the API names is offered for the curves (GET /meta, no list of its own).
    offered = _wait(
        budget,
        lambda: [
            o.get_attribute("value")
            for o in browser.find_elements(By.CSS_SELECTOR, "#curves-metric option")
        ],
        "the curves' metrics",
    )
    assert offered == [m.name for m in METRIC_INFO], offered
    heads = _wait(
        budget,
        lambda: [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#sweep-cells-head th")],
        "the cells' heads",
    )
    assert "samples to weak recovery" in heads and "phase1.n" not in heads, heads
    browser.save_screenshot(str(dashboard["shots"] / "sweep.png"))

    browser.get(f"{dashboard['base']}/ui/#/sweeps")
    _wait(
        budget,
        lambda: len(browser.find_elements(By.CSS_SELECTOR, "#sweeps-body tr")) == 2,
        "the sweeps list",
    )
    sweep_ids = _wait(
        budget,
        lambda: [
            r.get_attribute("data-id")
            for r in browser.find_elements(By.CSS_SELECTOR, "#sweeps-body tr")
        ],
        "the sweeps' rows",
    )
    for sweep_id in sweep_ids:
        _pick(browser, budget, "sweeps-body", sweep_id)
    browser.find_element(By.ID, "sweeps-compare-button").click()
    _wait(
        budget,
        lambda: len(browser.find_elements(By.CSS_SELECTOR, "#sweeps-compare-body tr")) == 4,
        "both sweeps' fits",
        lambda: browser.find_element(By.ID, "error").text,
    )
    exponents = _wait(
        budget,
        lambda: [
            r.find_elements(By.TAG_NAME, "td")[2].text
            for r in browser.find_elements(By.CSS_SELECTOR, "#sweeps-compare-body tr")
        ],
        "the fitted exponents",
    )
    assert exponents == ["1.50"] * 4, exponents  # samples = c·d^1.5 in both
    browser.save_screenshot(str(dashboard["shots"] / "sweeps-compare.png"))


def test_api_docs_load_without_internet(tmp_path: Path) -> None:
    chromium, driver = _binaries()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    url = f"sqlite:///{tmp_path / 'silab.db'}"
    alembic_upgrade(url)
    stack = Stack(tmp_path, url, f"sqla+sqlite:///{tmp_path / 'broker.db'}")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    # No name resolves but loopback: a CDN would fail to load, as on a machine offline.
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}")
    drv = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        base = stack.api()
        budget = _budget(drv, f"{base}/health")
        drv.get(f"{base}/docs")
        _wait(
            budget,
            lambda: drv.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock"),
            "Swagger UI's operations",
            lambda: drv.page_source[:2000],
        )
        assert "silab" in drv.find_element(By.CSS_SELECTOR, ".swagger-ui .title").text
        drv.save_screenshot(str(_shots(tmp_path) / "docs-offline.png"))
        drv.get(f"{base}/redoc")
        _wait(
            budget,
            lambda: drv.find_elements(By.CSS_SELECTOR, "[data-section-id]"),
            "ReDoc's sections",
            lambda: drv.page_source[:2000],
        )
    finally:
        drv.quit()
        stack.close()
