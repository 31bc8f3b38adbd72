"""The dashboard in a real headless browser (Debian's chromium + chromium-driver, driven by
selenium): a real `uvicorn api.main:app` on a loopback port over a SQLite database holding a few
experiments with traces (inserted through db directly). Load /ui/, filter, open an experiment,
see its plot image loaded; open the sweeps page. Screenshots go to the test's tmp folder.

scripts/setup installs chromium and chromium-driver when they are missing (as root, with apt-get).
Without them this test is SKIPPED locally and FAILS when CI=true.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from db.config import DbSettings
from db.models import Experiment, Sweep
from db.session import make_engine, make_sessionmaker
from tests.conftest import TEST_ENV, alembic_upgrade
from tests.e2e.e2e_helpers import Stack, wait_until
from tests.trace_helpers import add_points

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
        missing = "chromium and chromium-driver (scripts/setup installs them)"
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


def _seed_database(url: str) -> dict[str, int]:
    """Three experiments (two h3 reuse, one h4 online), the first with a trace of two seeds,
    and a sweep over the two h3 ones."""
    engine = make_engine(DbSettings(database_url=url))
    with make_sessionmaker(engine)() as session:
        sweep = Sweep(
            name="browser sweep",
            owner="alice",
            sweep_hash="b" * 64,
            definition={"base": {}, "axes": [{"path": "d", "values": [16, 32]}]},
            axes=["d", "phase1.n"],
            cells=2,
            experiments_total=2,
        )
        session.add(sweep)
        session.flush()
        rows = []
        for name, target, algorithm, d, n in (
            ("alpha reuse", "h3", "reuse", 16, "8*d"),
            ("beta reuse", "h3", "reuse", 32, "16*d"),
            ("gamma online", "h4", "online", 64, None),
        ):
            experiment = Experiment(
                name=name,
                owner="alice",
                spec={"d": d, "target": target},
                spec_hash="0" * 64,
                target=target,
                algorithm=algorithm,
                d=d,
                width=8,
                seeds=2,
                status="completed",
                samples_total=1000,
                samples_done=1000,
                final_median_abs_m=0.8,
                test_mse=0.3,
                result={
                    "seeds": [
                        {"seed": 0, "test_mse": 0.2, "final_mean_abs_m": 0.7},
                        {"seed": 1, "test_mse": 0.4, "final_mean_abs_m": 0.9},
                    ]
                },
            )
            if n is not None:
                experiment.sweep_id = sweep.id
                experiment.cell_key = f'{{"d":{d},"phase1.n":"{n}"}}'
            session.add(experiment)
            rows.append(experiment)
        session.flush()
        fixture_points: list[dict] = []
        for seed in (0, 1):
            for step in range(1, 21):
                fixture_points.append(
                    {
                        "experiment_id": rows[0].id,
                        "attempt": 1,
                        "seed": seed,
                        "phase": "phase1",
                        "step": step,
                        "samples": step * 16,
                        "median_abs_m": min(1.0, 0.05 * step + 0.1 * seed),
                        "mean_abs_m": min(1.0, 0.04 * step),
                        "train_loss": 1.0 / step,
                        "test_mse": 1.0 / step,
                    }
                )
        add_points(session, fixture_points)
        session.commit()
        ids = {"alpha": rows[0].id, "beta": rows[1].id, "gamma": rows[2].id, "sweep": sweep.id}
    engine.dispose()
    return ids


def test_dashboard_lists_filters_and_shows_a_plot(browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url = f"sqlite:///{tmp_path / 'silab.db'}"
    alembic_upgrade(url)
    ids = _seed_database(url)
    stack = Stack(tmp_path, url, f"sqla+sqlite:///{tmp_path / 'broker.db'}")
    try:
        base = stack.api()
        key_file = tmp_path / "data" / "admin.key"  # written when the API has accounts
        key = key_file.read_text().strip() if key_file.is_file() else ""
        assert httpx.get(f"{base}/", follow_redirects=False).headers["location"] == "/ui/"

        browser.get(f"{base}/ui/")
        if key:
            field = browser.find_element(By.ID, "api-key")
            field.send_keys(key)
            browser.execute_script("arguments[0].dispatchEvent(new Event('change'));", field)

        def rows() -> list:
            return browser.find_elements(By.CSS_SELECTOR, "#experiments-body tr")

        wait_until(
            lambda: len(rows()) == 3,
            20,
            "three experiments listed",
            lambda: browser.find_element(By.ID, "error").text,
        )
        browser.save_screenshot(str(tmp_path / "list.png"))

        Select(browser.find_element(By.ID, "filter-algorithm")).select_by_visible_text("reuse")
        wait_until(lambda: len(rows()) == 2, 20, "the algorithm filter to leave two rows")
        browser.find_element(By.ID, "filter-name").send_keys("alpha")
        wait_until(
            lambda: [r.get_attribute("data-id") for r in rows()] == [str(ids["alpha"])],
            20,
            "the name filter to leave alpha",
        )
        assert "algorithm=reuse" in browser.current_url and "name=alpha" in browser.current_url

        rows()[0].click()
        wait_until(
            lambda: browser.find_element(By.ID, "detail-title").text.startswith(f"#{ids['alpha']}"),
            20,
            "the detail view",
        )
        plot = browser.find_element(By.ID, "plot")
        wait_until(
            lambda: browser.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth", plot
            ),
            30,
            "the plot image to load",
            lambda: browser.find_element(By.ID, "plot-message").text,
        )
        assert browser.execute_script("return arguments[0].naturalWidth", plot) > 300
        wait_until(
            lambda: len(browser.find_elements(By.CSS_SELECTOR, "#trace-body tr")) == 40,
            20,
            "the trace table",
        )
        browser.save_screenshot(str(tmp_path / "experiment.png"))

        browser.find_element(By.ID, "nav-sweeps").click()
        wait_until(
            lambda: browser.find_elements(By.CSS_SELECTOR, "#sweeps-body tr"), 20, "the sweeps list"
        )
        assert browser.find_element(By.ID, "list-view").is_displayed() is False
        browser.find_element(By.CSS_SELECTOR, "#sweeps-body tr").click()
        heatmap = browser.find_element(By.ID, "sweep-heatmap")
        wait_until(
            lambda: browser.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth", heatmap
            ),
            30,
            "the sweep heatmap",
            lambda: browser.find_element(By.ID, "sweep-heatmap-message").text,
        )
        cells = browser.find_elements(By.CSS_SELECTOR, "#sweep-cells-body tr")
        assert len(cells) == 2 and "0.3 ±" in cells[0].text  # test_mse 0.2, 0.4
        browser.save_screenshot(str(tmp_path / "sweep.png"))
        assert (tmp_path / "experiment.png").stat().st_size > 10_000
    finally:
        stack.close()
