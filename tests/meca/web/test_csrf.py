"""Forged requests are refused: cookie-only posts without the MECA header, foreign origins, non-JSON bodies.

Airflow's own api-server app (plugins mounted, SimpleAuthManager) in this process; ``ann@example.org``
(role ``user``) owns a booked session whose three VMs run in a simulated region. Every forged request
is sent with her login cookie, as a browser would attach it, and must be refused before anything
happens: the booking stays ``accepted`` with its end, the VMs stay Running. The same requests as the
MECA pages send them (JSON body, ``X-Requested-With: meca``) or as an API client sends them (a bearer
token, JSON body) work.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from cloudstack_simulator.testing import SimulatorHandle
from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.regions import get_region
from meca.sessions.capacity import OfferingSize, RegionCapacity, RegionChoiceInput
from meca.sessions.ledger import Booking, advance, get_booking, reserve
from meca.sessions.provision import provision_session, resolve_spec
from meca.sessions.request import SessionRequest
from meca.sessions.states import PROVISIONING, RUNNING
from meca.store.migrate import upgrade
from meca.web.csrf import HEADER, HEADER_VALUE
from tests.meca.sessions.session_cloud import OFFERING, TEMPLATE, connect_all, raw_api, topology, vms_of
from tests.meca.web.simple_auth_api import logged_in_api_server

OWNER = "ann@example.org"
SESSION = "lab-forgery"
GIB = 1024**3
ROOM = RegionCapacity(64 * GIB, 64_000, measured_at=datetime.now(UTC), source="region")
#: The api-server's own origin as the test client addresses it.
OWN_ORIGIN = "http://testserver"
#: Another port of the same host: the same site for the browser, another origin.
OTHER_PORT = "http://testserver:9999"

CANCEL = f"/meca/sessions/api/sessions/{quote(SESSION, safe='')}/cancel"
EXTEND = f"/meca/sessions/api/sessions/{quote(SESSION, safe='')}/extend"
START = f"/meca/calendar/api/sessions/{quote(SESSION, safe='')}/start"
STOP = f"/meca/calendar/api/sessions/{quote(SESSION, safe='')}/stop"
CHECK = "/meca/calendar/api/check"
ACTIONS = {"cancel": CANCEL, "extend": EXTEND, "start": START, "stop": STOP, "check": CHECK}

#: name -> (extra headers, raw body) of a request a page of another site can send with the cookie.
FORGED: dict[str, tuple[dict[str, str], bytes | None]] = {
    "no body": ({}, None),
    "text/plain": ({"Content-Type": "text/plain"}, b'{"end": "2099-01-01T00:00:00Z"}'),
    "form": ({"Content-Type": "application/x-www-form-urlencoded"}, b"end=2099-01-01T00%3A00%3A00Z"),
    "multipart form": (
        {"Content-Type": "multipart/form-data; boundary=xyz"},
        b'--xyz\r\nContent-Disposition: form-data; name="end"\r\n\r\n2099-01-01T00:00:00Z\r\n--xyz--\r\n',
    ),
    "JSON without the header": ({"Content-Type": "application/json"}, b'{"end": "2099-01-01T00:00:00Z"}'),
}


@dataclass
class Api:
    """The in-process api-server, its users' tokens and the simulated region with the session's VMs."""

    client: TestClient
    tokens: dict[str, str]

    def with_cookie(
        self, path: str, headers: dict[str, str], body: bytes | None, user: str = OWNER
    ) -> httpx.Response:
        """``POST`` with only the login cookie as credentials, as a browser attaches it."""
        return self.client.post(
            path, headers={"Cookie": f"_token={self.tokens[user]}", **headers}, content=body
        )


@pytest.fixture(scope="module")
def api(airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with logged_in_api_server({OWNER: "user"}, tmp_path_factory.mktemp("auth")) as (client, tokens):
        yield Api(client, tokens)


@pytest.fixture
def cloud(simulator_factory: Any, monkeypatch: pytest.MonkeyPatch) -> SimulatorHandle:
    handle: SimulatorHandle = simulator_factory(topology("alpha", deploy_s=0.1))
    connect_all(handle, monkeypatch)
    return handle


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: SimulatorHandle) -> Iterator[Engine]:
    """A data database where ``ann@example.org`` booked :data:`SESSION` in alpha, its 3 VMs Running."""
    engine = create_engine(f"sqlite:///{tmp_path / 'meca-data.db'}")
    upgrade(engine)
    monkeypatch.setenv("MECA_DATA_DB_URL", engine.url.render_as_string(hide_password=False))
    book_and_deploy(engine, cloud, SESSION, OWNER)
    yield engine
    engine.dispose()


def book_and_deploy(engine: Engine, cloud: SimulatorHandle, session_id: str, owner: str) -> Booking:
    """Book ``session_id`` in alpha in an hour for ``owner``, deploy its 3 VMs and wait until they run."""
    now = datetime.now(UTC)
    start = now + timedelta(hours=1)
    conf = {
        "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat(),
        "title": "Cloud lab",
        "owner": owner,
        "region": "alpha",
        "template": TEMPLATE,
        "instances": 3,
        "offering": OFFERING,
    }
    facts = RegionChoiceInput(
        get_region("cloudstack_alpha"), ROOM, OfferingSize.of(OFFERING, 1, 1000, 1024), template_ready=True
    )
    booking = reserve(
        engine, SessionRequest.from_conf(conf, now=now), session_id=session_id, regions=[facts], now=now
    )
    hook = CloudStackAsyncHook(cloudstack_conn_id="cloudstack_alpha")

    async def deploy() -> None:
        spec = await resolve_spec(hook, template=TEMPLATE, offering=OFFERING)
        await provision_session(hook, session_id, 3, spec)

    asyncio.run(deploy())
    deadline = time.monotonic() + 60
    while vm_states(cloud, session_id) != ["Running"] * 3:
        assert time.monotonic() < deadline, vm_states(cloud, session_id)
        time.sleep(0.1)
    for state in (PROVISIONING, RUNNING):  # Start all and Stop all act on a running session only
        booking = advance(engine, session_id, state, now=datetime.now(UTC))
    return booking


def vm_states(cloud: SimulatorHandle, session_id: str = SESSION) -> list[str]:
    """The states of the session's VMs, read with a plain ``cs`` client."""
    return sorted(vm["state"] for vm in vms_of(raw_api(cloud, "alpha"), session_id))


def unchanged(engine: Engine, cloud: SimulatorHandle, end: datetime) -> None:
    booking = get_booking(engine, SESSION)
    assert booking is not None
    assert (booking.state, booking.end, booking.changed_by) == ("running", end, None)
    assert vm_states(cloud) == ["Running"] * 3


@pytest.mark.parametrize("forged", list(FORGED), ids=list(FORGED))
def test_a_cookie_only_post_without_the_meca_header_is_refused_and_changes_nothing(
    api: Api, engine: Engine, cloud: SimulatorHandle, forged: str
) -> None:
    headers, body = FORGED[forged]
    booking = get_booking(engine, SESSION)
    assert booking is not None
    for action, path in ACTIONS.items():
        response = api.with_cookie(path, headers, body)
        assert response.status_code == 403, (action, response.text)
        detail = response.json()["detail"]
        assert detail.startswith(f"refused: a POST that changes something must carry '{HEADER}: meca'"), (
            detail
        )
    unchanged(engine, cloud, booking.end)


@pytest.mark.parametrize("origin", [OTHER_PORT, "https://testserver", "http://evil.example", "null"])
def test_a_post_from_another_origin_is_refused_even_with_the_header_and_json(
    api: Api, engine: Engine, cloud: SimulatorHandle, origin: str
) -> None:
    booking = get_booking(engine, SESSION)
    assert booking is not None
    headers = {HEADER: HEADER_VALUE, "Content-Type": "application/json", "Origin": origin}
    for action, path in ACTIONS.items():
        response = api.with_cookie(path, headers, b"{}")
        assert response.status_code == 403, (action, response.text)
        assert (
            f"comes from a page of another origin ({origin!r}, not 'http://testserver')"
            in (response.json()["detail"])
        )
    unchanged(engine, cloud, booking.end)


@pytest.mark.parametrize(
    ("content_type", "body", "status", "said"),
    [
        (None, None, 415, "refused: no Content-Type;"),
        ("text/plain", b"{}", 415, "refused: 'Content-Type: text/plain';"),
        (
            "application/x-www-form-urlencoded",
            b"a=1",
            415,
            "'Content-Type: application/x-www-form-urlencoded'",
        ),
        ("application/json", b"", 422, "refused: an empty body;"),
        ("application/json", b"[]", 422, "refused: a body that is no JSON object;"),
    ],
)
def test_with_the_header_or_a_token_the_body_must_still_be_a_json_object(
    api: Api,
    engine: Engine,
    cloud: SimulatorHandle,
    content_type: str | None,
    body: bytes | None,
    status: int,
    said: str,
) -> None:
    booking = get_booking(engine, SESSION)
    assert booking is not None
    typed = {"Content-Type": content_type} if content_type else {}
    for path in (CANCEL, STOP):
        for credentials in (
            {"Cookie": f"_token={api.tokens[OWNER]}", HEADER: HEADER_VALUE},
            {"Authorization": f"Bearer {api.tokens[OWNER]}"},
        ):
            response = api.client.post(path, headers={**credentials, **typed}, content=body)
            assert response.status_code == status, (path, response.text)
            detail = response.json()["detail"]
            assert said in detail, detail
            assert "'Content-Type: application/json'" in detail, detail
    unchanged(engine, cloud, booking.end)


def test_an_invalid_bearer_token_is_not_saved_by_the_cookie(
    api: Api, engine: Engine, cloud: SimulatorHandle
) -> None:
    booking = get_booking(engine, SESSION)
    assert booking is not None
    response = api.client.post(
        CANCEL,
        headers={"Authorization": "Bearer not-a-token", "Cookie": f"_token={api.tokens[OWNER]}"},
        json={},
    )
    assert response.status_code in (401, 403), response.text
    unchanged(engine, cloud, booking.end)


def test_the_pages_way_with_the_cookie_works(api: Api, engine: Engine, cloud: SimulatorHandle) -> None:
    page = {HEADER: HEADER_VALUE, "Content-Type": "application/json", "Origin": OWN_ORIGIN}
    booking = get_booking(engine, SESSION)
    assert booking is not None
    later = booking.end + timedelta(minutes=30)

    stopped = api.with_cookie(STOP, page, b"{}")
    assert stopped.status_code == 200, stopped.text
    assert vm_states(cloud) == ["Stopped"] * 3
    started = api.with_cookie(START, page, b"{}")
    assert started.status_code == 200, started.text
    assert vm_states(cloud) == ["Running"] * 3
    extended = api.with_cookie(EXTEND, page, f'{{"end": "{later.isoformat()}"}}'.encode())
    # The region has no sweep yet, so the extension is refused by the ledger: it got that far.
    assert extended.status_code == 409, extended.text
    checked = api.with_cookie(CHECK, page, b"{}")
    assert checked.status_code == 422, checked.text
    assert "The start is missing" in " ".join(checked.json()["detail"])
    cancelled = api.with_cookie(CANCEL, page, b"{}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["changed_by"] == OWNER


def test_an_api_client_with_a_bearer_token_needs_no_header(
    api: Api, engine: Engine, cloud: SimulatorHandle
) -> None:
    token = {"Authorization": f"Bearer {api.tokens[OWNER]}"}

    stopped = api.client.post(STOP, headers=token, json={})
    assert stopped.status_code == 200, stopped.text
    assert vm_states(cloud) == ["Stopped"] * 3
    cancelled = api.client.post(CANCEL, headers=token, json={})
    assert cancelled.status_code == 200, cancelled.text
    assert get_booking(engine, SESSION).state == "cancelled"  # type: ignore[union-attr]


def test_reading_needs_nothing_more(api: Api, engine: Engine) -> None:
    cookie = {"Cookie": f"_token={api.tokens[OWNER]}"}
    shown = api.client.get(f"/meca/sessions/api/sessions/{quote(SESSION, safe='')}", headers=cookie)
    assert shown.status_code == 200, shown.text
    assert shown.json()["state"] == "running"
