"""The MECA dashboard in headless Chromium, served by a real ``airflow api-server`` process.

The seed federation (simulator) is swept twice, one interval apart, into a SQLite data DB with the
sweep's own functions (``collect_region`` + ``write_sample``); the last region is down at the second
sweep (``write_error``), so it is stale with its error and its last known numbers. The api-server reads
it through the ``meca_data`` Connection. The browser logs in through Airflow's login page and the
test asserts that the numbers shown are the ones the simulator reports through the ``cs`` client.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from cs import CloudStack

from cloudstack_simulator.airflow_connections import airflow_env, conn_id_for
from cloudstack_simulator.testing import SimulatorHandle
from meca.cloudstack.capacity import BY_TYPE, DASHBOARD_TYPES
from meca.cloudstack.errors import CloudStackError
from meca.cloudstack.hook import CloudStackHook
from meca.metrics.collect import collect_region
from meca.metrics.samples import write_error, write_sample
from meca.store.engine import engine_for_url
from meca.store.migrate import upgrade
from meca.web.humanize import used_of_total
from meca.web.queries import SWEEP_INTERVAL
from tests.e2e.airflow_cluster import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
USERNAME = "operator"
STARTUP_TIMEOUT_S = 120.0
DASHBOARD = "/meca/dashboard/"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@dataclass(frozen=True)
class Swept:
    """Each region's totals per type as ``cs`` read them before the sweeps, the region set down, its error."""

    totals: dict[str, dict[int, tuple[int, int]]]
    down: str
    error: str


def cs_totals(handle: SimulatorHandle, name: str) -> dict[int, tuple[int, int]]:
    """``{type: (used, total)}`` of a region, zones summed, as the ``cs`` client reads ``listCapacity``."""
    info = handle.region(name)
    api = CloudStack(endpoint=info["endpoint"], key=info["api_key"], secret=info["secret_key"])
    totals: dict[int, tuple[int, int]] = {}
    for c in api.listCapacity()["capacity"]:
        used, total = totals.get(c["type"], (0, 0))
        totals[c["type"]] = (used + c["capacityused"], total + c["capacitytotal"])
    return totals


@pytest.fixture
def swept(
    seed_simulator: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Swept, str]]:
    """Two sweeps of the seed federation, its last region down at the second; yield the outcome and DB URL."""
    for key, value in airflow_env(seed_simulator.endpoints, timeout_s=5.0).items():
        monkeypatch.setenv(key, value)
    url = f"sqlite:///{tmp_path / 'meca-data.db'}"
    engine = engine_for_url(url)
    upgrade(engine)
    names = [r["name"] for r in seed_simulator.endpoints["regions"]]
    down = names[-1]
    latest = datetime.now(UTC).replace(second=0, microsecond=0)
    totals = {name: cs_totals(seed_simulator, name) for name in names}
    for name in names:
        write_sample(engine, collect_region(CloudStackHook(conn_id_for(name))), latest - SWEEP_INTERVAL)
    seed_simulator.control.set_faults(down, down=True)
    try:
        for name in names:
            hook = CloudStackHook(conn_id_for(name))
            if name == down:
                with pytest.raises(CloudStackError) as caught:
                    collect_region(hook)
                error = str(caught.value)
                write_error(engine, hook.region, latest, error)
            else:
                write_sample(engine, collect_region(hook), latest)
        yield Swept(totals, down, error), url
    finally:
        seed_simulator.control.set_faults(down, down=False)


@dataclass(frozen=True)
class ApiServer:
    base_url: str
    password: str


@pytest.fixture
def api_server(airflow_db: None, swept: tuple[Swept, str], tmp_path: Path) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free port (the session's metadata DB), reading the swept data DB."""
    _, data_url = swept
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    password = secrets.token_urlsafe(12)
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({USERNAME: password}))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW_CONN_MECA_DATA": json.dumps(
            {"conn_type": "sqlite", "host": data_url.removeprefix("sqlite:///")}
        ),
    }
    log_path = tmp_path / "api-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--port", str(port), "--host", "127.0.0.1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait_healthy(base_url, process, log_path)
        yield ApiServer(base_url, password)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"api-server exited with {process.returncode}:\n{log_path.read_text()[-4000:]}"
            )
        try:
            if requests.get(f"{base_url}/api/v2/monitor/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"api-server not healthy after {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}")


def test_dashboard_in_chromium_shows_the_simulator_numbers(
    api_server: ApiServer, swept: tuple[Swept, str], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    outcome, _ = swept
    dashboard = api_server.base_url + DASHBOARD
    assert requests.get(dashboard + "api/summary", timeout=30).status_code == 401
    anonymous = requests.get(dashboard, timeout=30, allow_redirects=False)
    assert anonymous.status_code == 303
    assert "/auth/login" in anonymous.headers["location"]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(dashboard)
            page.wait_for_url("**/auth/login**")
            page.get_by_label("Username").fill(USERNAME)
            page.get_by_label("Password").fill(api_server.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(dashboard)

            for kind in DASHBOARD_TYPES:
                tile = page.locator(f'.tile[data-type="{kind}"]')
                used = sum(t[kind][0] for t in outcome.totals.values() if kind in t)
                total = sum(t[kind][1] for t in outcome.totals.values() if kind in t)
                assert (int(tile.get_attribute("data-used")), int(tile.get_attribute("data-total"))) == (
                    used,
                    total,
                )
                assert used_of_total(used, total, BY_TYPE[kind].unit) in tile.inner_text()

            stale = page.locator(f'tr.region[data-region="{outcome.down}"]')
            assert stale.get_attribute("data-stale") == "true"
            assert stale.locator(".badge.stale").is_visible()
            assert stale.locator(".error").inner_text() == outcome.error
            assert re.search(r"numbers \d+ min old", stale.inner_text())
            assert int(page.locator("#stale-count").inner_text()) == 1
            fresh = [name for name in outcome.totals if name != outcome.down]
            assert [
                page.locator(f'tr.region[data-region="{n}"]').get_attribute("data-stale") for n in fresh
            ] == ["false"] * len(fresh)
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

            first = fresh[0]
            page.click(f'tr.region[data-region="{first}"] a')
            page.wait_for_url(f"**/regions/{first}")
            storage = page.locator('.tile[data-type="2"]')
            assert (
                int(storage.get_attribute("data-used")),
                int(storage.get_attribute("data-total")),
            ) == outcome.totals[first][2]
            page.screenshot(path=str(tmp_path / "region.png"), full_page=True)

            page.goto(api_server.base_url + "/")
            page.get_by_role("link", name="MECA dashboard").click()
            page.wait_for_url("**/plugin/meca-dashboard")
            embedded = page.frame_locator("iframe").locator('.tile[data-type="3"]')
            embedded.wait_for()
            assert int(embedded.get_attribute("data-total")) == sum(t[3][1] for t in outcome.totals.values())
            page.screenshot(path=str(tmp_path / "airflow-ui.png"))

            anonymous_page = browser.new_context().new_page()
            anonymous_page.goto(dashboard)
            anonymous_page.wait_for_url("**/auth/login**")
            assert anonymous_page.locator(".tile").count() == 0
        finally:
            browser.close()
    print(f"screenshots in {tmp_path}", file=sys.stderr)
