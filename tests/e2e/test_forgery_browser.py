"""The same-site attack in headless Chromium: a page on another port cannot cancel, start or stop.

A real ``airflow api-server`` process (SimpleAuthManager) serves the MECA plugin; ``ann@example.org``
(role ``user``) owns a booked session whose three VMs run in a simulated region. She logs in in the
browser (Airflow's ``_token`` cookie, ``SameSite=Lax``: the browser sends it to every port of the
host), then opens a page served by a plain ``http.server`` on another port of 127.0.0.1. Its script
sends ``fetch(..., {method: "POST", credentials: "include", mode: "no-cors", body: "x",
headers: {"Content-Type": "text/plain"}})`` and auto-submits a ``<form method=post>`` to cancel, start
and stop. The browser attaches her cookie (the same page's credentialed ``GET`` of the session is
answered 200, not 401), and every forged request is answered 403; the booking and the VMs are
unchanged. Her own session page's "Stop all" (JSON body, ``X-Requested-With: meca``) still works.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine

from cloudstack_simulator.testing import SimulatorHandle
from meca.sessions.ledger import get_booking
from meca.store.migrate import upgrade
from tests.e2e.airflow_cluster import free_port
from tests.e2e.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, REPO, _wait_healthy
from tests.meca.sessions.session_cloud import connect_all, topology
from tests.meca.web.test_csrf import book_and_deploy, vm_states

OWNER = "ann@example.org"
SESSION = "lab-forgery"
ACTIONS = ("cancel", "start", "stop")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@dataclass(frozen=True)
class Served:
    base_url: str
    password: str


def action_url(base_url: str, action: str) -> str:
    quoted = quote(SESSION, safe="")
    if action == "cancel":
        return f"{base_url}/meca/sessions/api/sessions/{quoted}/cancel"
    return f"{base_url}/meca/calendar/api/sessions/{quoted}/{action}"


def probe_url(base_url: str) -> str:
    """The session's JSON (``GET``): 200 with the login cookie, 401 without."""
    return f"{base_url}/meca/sessions/api/sessions/{quote(SESSION, safe='')}"


@pytest.fixture
def cloud(simulator_factory: Any, monkeypatch: pytest.MonkeyPatch) -> SimulatorHandle:
    handle: SimulatorHandle = simulator_factory(topology("alpha", deploy_s=0.1))
    connect_all(handle, monkeypatch)
    return handle


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: SimulatorHandle) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'meca-data.db'}")
    upgrade(engine)
    monkeypatch.setenv("MECA_DATA_DB_URL", engine.url.render_as_string(hide_password=False))
    book_and_deploy(engine, cloud, SESSION, OWNER)
    yield engine
    engine.dispose()


@pytest.fixture
def api_server(airflow_db: None, engine: Engine, tmp_path: Path) -> Iterator[Served]:
    """``airflow api-server`` on a free port of 127.0.0.1, with the region Connections and the data DB."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    password = secrets.token_urlsafe(12)
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({OWNER: password}))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{OWNER}:user",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
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
        yield Served(base_url, password)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


ATTACK_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Free lab credits</title></head>
<body>
{forms}
<script>
const targets = {targets};
fetch({probe}, {{credentials: "include", mode: "no-cors"}});
for (const url of Object.values(targets)) {{
  fetch(url, {{method: "POST", credentials: "include", mode: "no-cors", body: "x",
              headers: {{"Content-Type": "text/plain"}}}});
}}
for (const form of document.forms) form.submit();
</script>
</body></html>
"""


@pytest.fixture
def attacker(api_server: Served, tmp_path: Path) -> Iterator[str]:
    """A page on another port of 127.0.0.1 that forges a cancel, a start and a stop; its URL."""
    site = tmp_path / "attacker"
    site.mkdir()
    targets = {action: action_url(api_server.base_url, action) for action in ACTIONS}
    forms = "\n".join(
        f'<iframe name="sink-{action}"></iframe>'
        f'<form method="post" action="{url}" target="sink-{action}"><input name="end" value="x"></form>'
        for action, url in targets.items()
    )
    probe = json.dumps(probe_url(api_server.base_url))
    (site / "index.html").write_text(
        ATTACK_PAGE.format(forms=forms, targets=json.dumps(targets), probe=probe)
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_on_another_port_cannot_cancel_start_or_stop_with_the_login_cookie(
    api_server: Served, attacker: str, engine: Engine, cloud: SimulatorHandle
) -> None:
    from playwright.sync_api import expect, sync_playwright

    booking = get_booking(engine, SESSION)
    assert booking is not None
    session_page = f"{api_server.base_url}/meca/calendar/sessions/{quote(SESSION, safe='')}"
    forged: list[tuple[str, int, dict[str, str]]] = []
    probed: list[int] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.goto(session_page)
            page.wait_for_url("**/auth/login**")
            page.get_by_label("Username").fill(OWNER)
            page.get_by_label("Password").fill(api_server.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(session_page)
            assert any(cookie["name"] == "_token" for cookie in context.cookies(api_server.base_url))

            evil = context.new_page()

            def seen(response: Any) -> None:
                request = response.request
                if request.method == "POST" and request.url.startswith(api_server.base_url):
                    forged.append((request.url, response.status, request.all_headers()))
                elif request.url == probe_url(api_server.base_url):
                    probed.append(response.status)

            evil.on("response", seen)
            evil.goto(attacker)
            deadline = time.monotonic() + 30
            while len(forged) < 2 * len(ACTIONS) or not probed:
                assert time.monotonic() < deadline, forged
                evil.wait_for_timeout(200)
            evil.wait_for_timeout(1000)  # any late request would be seen too

            assert sorted(url for url, _, _ in forged) == sorted(
                2 * [action_url(api_server.base_url, action) for action in ACTIONS]
            )
            # The browser hides the answers from the attacking page (opaque, or another origin's frame).
            for url, status, headers in forged:
                assert status == 403, (url, status, headers)
            # The attack was logged in: the same page's credentialed GET of the session was answered 200.
            assert probed == [200], probed
            after = get_booking(engine, SESSION)
            assert after is not None
            assert (after.state, after.end, after.changed_by) == ("running", booking.end, None)
            assert vm_states(cloud, SESSION) == ["Running"] * 3

            # The session page itself (same origin, JSON body, X-Requested-With: meca) still works.
            page.get_by_role("button", name="Stop all").click()
            expect(page.locator("#action-outcome")).to_contain_text("3 VM(s) stopped", timeout=30_000)
            assert vm_states(cloud, SESSION) == ["Stopped"] * 3
        finally:
            browser.close()
