"""The calendar app inside Airflow's own api-server app, against a simulated two-region federation.

Real Airflow users (SimpleAuthManager): a ``viewer``, who may look but not operate runs, and two
teachers (role ``user``), who may trigger runs and operate their own sessions: ``ann@example.org``
owns the bookings made here (their owner is her e-mail), ``teacher1`` does not. Bookings are stored
with the ledger; the VMs are deployed in the simulator by the session code itself and looked at with
a plain ``cs`` client.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from cloudstack_simulator.testing import SimulatorHandle
from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.regions import get_region
from meca.sessions.capacity import OfferingSize, RegionCapacity, RegionChoiceInput
from meca.sessions.ledger import Booking, advance, cancel, reserve
from meca.sessions.provision import provision_session, resolve_spec
from meca.sessions.request import SessionRequest
from meca.sessions.states import PROVISIONING, RUNNING
from meca.sessions.tags import vm_name
from meca.store.models import SessionBooking
from meca.web.csrf import HEADER, HEADER_VALUE
from tests.meca.sessions.session_cloud import OFFERING, TEMPLATE, connect_all, raw_api, topology, vms_of
from tests.meca.web.html_nodes import parse
from tests.meca.web.simple_auth_api import logged_in_api_server

PREFIX = "/meca/calendar"
COLOURS = {"alpha": "#1f77b4", "beta": "#ffd43b"}
GIB = 1024**3
ROOM = RegionCapacity(64 * GIB, 64_000, measured_at=datetime.now(UTC), source="region")
SMALL = OfferingSize.of(OFFERING, 1, 1000, 1024)
USERS = {"viewer1": "viewer", "teacher1": "user", "ann@example.org": "user"}
OWNER = "ann@example.org"
#: The header the MECA pages send with every POST.
FROM_THE_PAGE = {HEADER: HEADER_VALUE}


@dataclass
class Calendar:
    """A client of the in-process api-server and a token per user."""

    client: TestClient
    tokens: dict[str, str]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def get(self, path: str, user: str = "viewer1", **params: str) -> httpx.Response:
        return self.client.get(PREFIX + path, headers=self.auth(user), params=params)

    def post(self, path: str, user: str = "viewer1", body: Any = None) -> httpx.Response:
        """``POST`` as the MECA pages do: a JSON body (``{}`` by default) with the user's token."""
        return self.client.post(PREFIX + path, headers=self.auth(user), json={} if body is None else body)


@pytest.fixture(scope="module")
def calendar(airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Calendar]:
    """Airflow's api-server app (plugins mounted) with a viewer and two teachers logged in."""
    with logged_in_api_server(USERS, tmp_path_factory.mktemp("auth")) as (client, tokens):
        yield Calendar(client, tokens)


@pytest.fixture
def cloud(simulator_factory, monkeypatch: pytest.MonkeyPatch) -> SimulatorHandle:
    """Regions alpha and beta (each with its own colour), registered as Airflow Connections."""
    layout = topology("alpha", "beta", deploy_s=0.2)
    for region in layout["regions"]:
        region["colour"] = COLOURS[region["name"]]
    handle = simulator_factory(layout)
    connect_all(handle, monkeypatch)
    return handle


def conf(start: datetime, hours: float = 2, **changes: Any) -> dict[str, Any]:
    return {
        "start": start.isoformat(),
        "end": (start + timedelta(hours=hours)).isoformat(),
        "title": "Cloud lab",
        "owner": "ann@example.org",
        "region": "alpha",
        "template": TEMPLATE,
        "instances": 2,
        "offering": OFFERING,
        **changes,
    }


def book(engine: Engine, session_id: str, start: datetime, **changes: Any) -> Booking:
    """Book a session with the ledger (the region's facts given, as the DAG's reserve task learns them)."""
    now = datetime.now(UTC)
    request = SessionRequest.from_conf(conf(start, **changes), now=now)
    facts = RegionChoiceInput(get_region(f"cloudstack_{request.region.lower()}"), ROOM, SMALL, True)
    return reserve(engine, request, session_id=session_id, regions=[facts], now=now)


def deploy(session_id: str, count: int) -> None:
    """Deploy the session's VMs in alpha with the session code, and wait until they are Running."""
    hook = CloudStackAsyncHook(cloudstack_conn_id="cloudstack_alpha")

    async def run() -> None:
        spec = await resolve_spec(hook, template=TEMPLATE, offering=OFFERING)
        await provision_session(hook, session_id, count, spec)

    asyncio.run(run())


def states(cloud: SimulatorHandle, session_id: str) -> dict[str, str]:
    """``{VM name: state}`` of a session in alpha, read with a plain ``cs`` client."""
    return {vm["name"]: vm["state"] for vm in vms_of(raw_api(cloud, "alpha"), session_id)}


def wait_running(cloud: SimulatorHandle, session_id: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while list(states(cloud, session_id).values()) != ["Running"] * count:
        assert time.monotonic() < deadline, f"VMs of {session_id} not Running: {states(cloud, session_id)}"
        time.sleep(0.1)


def session_url(session_id: str, action: str = "") -> str:
    return f"/api/sessions/{quote(session_id, safe='')}{action}"


def test_every_page_endpoint_and_file_needs_a_user(calendar: Calendar) -> None:
    anonymous = calendar.client
    for page in ("/", "/sessions/some-session"):
        response = anonymous.get(PREFIX + page)
        assert response.status_code == 303
        assert "/auth/login" in response.headers["location"]
    for response in (
        anonymous.get(PREFIX + "/api/events", params={"start": "2026-01-01", "end": "2026-01-08"}),
        anonymous.post(PREFIX + "/api/check", json={}, headers=FROM_THE_PAGE),
        anonymous.get(PREFIX + session_url("s1", "/vms")),
        anonymous.post(PREFIX + session_url("s1", "/stop"), json={}, headers=FROM_THE_PAGE),
        anonymous.get(PREFIX + "/static/calendar.js"),
    ):
        assert response.status_code == 401, response.url
        assert response.json() == {"detail": "Not authenticated"}


def test_the_page_has_the_three_views_the_legend_and_the_form(
    calendar: Calendar, cloud: SimulatorHandle, engine: Engine
) -> None:
    page = parse(calendar.get("/").text)

    legend = page.find_all(cls="legend-region")
    assert [(n.attrs["data-region"], n.attrs["data-colour"]) for n in legend] == list(COLOURS.items())
    assert [n.one("i").attrs["style"] for n in legend] == [f"background: {c}" for c in COLOURS.values()]
    assert [o.attrs["value"] for o in page.one("select").find_all("option")] == ["any", "alpha", "beta"]
    fields = [n.attrs["name"] for n in page.one("form").find_all() if "name" in n.attrs]
    assert fields == [
        "start",
        "end",
        "title",
        "owner",
        "region",
        "template",
        "instances",
        "offering",
        "recurrence_weeks",
        "comments",
    ]
    settings = json.loads(page.one("script", id="settings").text)
    assert settings == {"airflowRoot": "/", "dagId": "meca_classroom_session"}
    scripts = [n.attrs["src"] for n in page.find_all("script") if "src" in n.attrs]
    assert scripts == ["static/vendor/fullcalendar/index.global.min.js", "static/calendar.js"]
    bundle = calendar.get("/static/vendor/fullcalendar/index.global.min.js")
    assert bundle.status_code == 200
    assert bundle.text.startswith("/*!\nFullCalendar Standard Bundle v6.1.21")
    assert "dayGridMonth,timeGridWeek,timeGridDay" in calendar.get("/static/calendar.js").text
    assert calendar.get("/static/..%2Fcalendar_app.py").status_code == 404


def test_events_are_the_bookings_of_the_window_in_their_region_colour_and_state(
    calendar: Calendar, cloud: SimulatorHandle, engine: Engine
) -> None:
    monday = (datetime.now(UTC) + timedelta(days=8)).replace(hour=0, minute=0, second=0, microsecond=0)
    book(engine, "lab-alpha", monday + timedelta(hours=9), title="Packaging exercise")
    book(engine, "lab-beta", monday + timedelta(days=1, hours=13), region="beta", instances=18)
    book(engine, "lab-cancelled", monday + timedelta(hours=15))
    cancel(engine, "lab-cancelled", by="ann", now=datetime.now(UTC))
    book(engine, "lab-next-week", monday + timedelta(days=8, hours=9))

    response = calendar.get(
        "/api/events", start=monday.isoformat(), end=(monday + timedelta(days=7)).isoformat()
    )

    assert response.status_code == 200, response.text
    events = {event["id"]: event for event in response.json()}
    assert list(events) == ["lab-alpha", "lab-cancelled", "lab-beta"]
    alpha, beta = events["lab-alpha"], events["lab-beta"]
    # A cancelled session stays on the calendar, told apart by its state (class and title).
    assert events["lab-cancelled"]["classNames"] == ["state-cancelled"]
    assert events["lab-cancelled"]["title"] == "Cloud lab (cancelled)"
    assert alpha["classNames"] == ["state-accepted"]
    assert (alpha["backgroundColor"], alpha["borderColor"], alpha["textColor"]) == (
        "#1f77b4",
        "#1f77b4",
        "#ffffff",
    )
    assert (beta["backgroundColor"], beta["textColor"]) == ("#ffd43b", "#000000")
    assert alpha["title"] == "Packaging exercise"
    assert datetime.fromisoformat(alpha["start"]) == monday + timedelta(hours=9)
    assert datetime.fromisoformat(alpha["end"]) == monday + timedelta(hours=11)
    assert alpha["url"] == "sessions/lab-alpha"
    assert beta["extendedProps"] == {
        "session_id": "lab-beta",
        "owner": "ann@example.org",
        "region": "beta",
        "instances": 18,
        "state": "accepted",
        "template": TEMPLATE,
        "offering": OFFERING,
    }
    # FullCalendar sends the window in the browser's offset; a "+" left unencoded arrives as a space.
    local = calendar.client.get(
        f"{PREFIX}/api/events?start={(monday + timedelta(days=1)).strftime('%Y-%m-%dT%H:%M:%S')}+01:00"
        f"&end={(monday + timedelta(days=2)).strftime('%Y-%m-%dT%H:%M:%S')}+01:00",
        headers=calendar.auth("viewer1"),
    )
    assert [event["id"] for event in local.json()] == ["lab-beta"]
    backwards = calendar.get("/api/events", start="2026-02-01", end="2026-01-01")
    assert backwards.status_code == 422
    assert calendar.get("/api/events", start="soon", end="2026-01-01").status_code == 422


#: (start, end, what the 422 says) of event windows that are no window.
BAD_WINDOWS = [
    ("9999-12-31T00:00:00", "9999-12-31T23:59:59", "'start' must be between 1970-01-01 and 9000-01-01"),
    ("9999-12-31T23:00:00-05:00", "2026-01-01", "'start' must be between 1970-01-01 and 9000-01-01"),
    ("2026-01-01", "9999-12-31", "'end' must be between 1970-01-01 and 9000-01-01"),
    ("0001-01-01T00:00:00+01:00", "2026-01-01", "'start' must be between 1970-01-01 and 9000-01-01"),
    ("0001-01-02", "0001-01-03", "'start' must be between 1970-01-01 and 9000-01-01"),
    ("2026-02-01", "2026-01-01", "'end' must be after 'start' and at most 400 days later"),
    ("2026-01-01", "2026-01-01", "'end' must be after 'start'"),
    ("2026-01-01", "2027-06-01", "at most 400 days later"),
    ("1970-01-01", "8999-12-31", "at most 400 days later"),
    ("soon", "2026-01-01", "'start' must be an ISO 8601 date or date-time, got 'soon'"),
    ("2026-01-01", "x" * 5000, "'end' must be an ISO 8601 date or date-time, got 'xxxxxxxx"),
    ("2026-01-01\x00", "2026-01-08", "'start' must be an ISO 8601 date or date-time"),
    ("2026-13-01", "2026-01-08", "'start' must be an ISO 8601 date or date-time"),
]


@pytest.mark.parametrize(("start", "end", "said"), BAD_WINDOWS)
def test_a_window_that_is_no_window_is_422_with_the_reason_never_500(
    calendar: Calendar, engine: Engine, start: str, end: str, said: str
) -> None:
    response = calendar.get("/api/events", start=start, end=end)

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert said in detail, detail
    assert len(detail) < 300, detail


def test_the_check_lists_every_problem_and_books_nothing(
    calendar: Calendar, cloud: SimulatorHandle, engine: Engine
) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    bad = conf(past, hours=-1, title="", instances=0, region="nowhere")

    refused = calendar.post("/api/check", body=bad)

    assert refused.status_code == 422, refused.text
    messages = refused.json()["detail"]
    assert any(m.startswith("The end (") and "must be after the start" in m for m in messages)
    assert any(m.startswith("The start (") and "is in the past" in m for m in messages)
    assert "The title is missing." in messages
    assert "The number of instances must be at least 1 (got 0)." in messages
    owner_rule = "You book sessions in your own name: set the owner to 'viewer1', not 'ann@example.org'."
    assert owner_rule in messages
    assert len(messages) == 5
    unknown = calendar.post(
        "/api/check", body=conf(datetime.now(UTC) + timedelta(days=1), region="nowhere", owner="viewer1")
    )
    assert unknown.json()["detail"] == [
        "The region 'nowhere' is not one of the federation's regions (alpha, beta), nor \"any\"."
    ]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    local = start.astimezone(timezone(timedelta(hours=1)))
    asked = conf(local, region="any", comments="room 12", owner="viewer1")
    accepted = calendar.post("/api/check", body=asked)
    assert accepted.status_code == 200, accepted.text
    answer = accepted.json()
    assert answer["ok"] is True
    assert answer["conf"] == asked
    assert answer["region"] in {"alpha", "beta"}
    assert answer["reasons"]
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(SessionBooking)) == 0


def test_the_session_page_shows_the_booking_and_its_vms_live_from_the_region(
    calendar: Calendar, cloud: SimulatorHandle, engine: Engine
) -> None:
    session, other = "manual__2030-03-04T09:00:00+00:00", "lab-other"
    book(engine, session, datetime.now(UTC) + timedelta(hours=1), title="Optimization lesson")
    book(engine, other, datetime.now(UTC) + timedelta(hours=1))
    deploy(session, 2)
    deploy(other, 1)
    wait_running(cloud, session, 2)

    page = parse(calendar.get(f"/sessions/{quote(session, safe='')}").text)

    assert page.one("h1").text == "Optimization lesson"
    assert page.one("code", id="session-id").text == session
    assert page.one("dd", id="booking-region").attrs["data-colour"] == COLOURS["alpha"]
    assert page.one("dd", id="booking-instances").text == f"2 \N{MULTIPLICATION SIGN} {TEMPLATE} ({OFFERING})"
    assert json.loads(page.one("script", id="settings").text)["sessionId"] == session
    response = calendar.get(session_url(session, "/vms"))
    assert response.status_code == 200, response.text
    listed = response.json()
    assert listed["region"] == "alpha"
    assert [vm["name"] for vm in listed["vms"]] == [vm_name(session, 1), vm_name(session, 2)]
    by_cs = {vm["name"]: vm for vm in vms_of(raw_api(cloud, "alpha"), session)}
    for vm in listed["vms"]:
        assert vm["state"] == "Running"
        assert vm["address"] == by_cs[vm["name"]]["nic"][0]["ipaddress"]
        assert vm["template"] == TEMPLATE
    assert calendar.get(session_url("no-such-session", "/vms")).status_code == 404
    assert calendar.get("/sessions/no-such-session").status_code == 404


def test_stop_all_and_start_all_move_only_the_sessions_vms_and_need_the_right_to_operate_runs(
    calendar: Calendar, cloud: SimulatorHandle, engine: Engine
) -> None:
    session, other = "lab-stop-start", "lab-other"
    for session_id in (session, other):
        book(engine, session_id, datetime.now(UTC) + timedelta(hours=1))
    deploy(session, 3)
    deploy(other, 1)
    wait_running(cloud, session, 3)
    wait_running(cloud, other, 1)

    # While its run still waits for the VMs (accepted, provisioning), a stop would fail the session.
    early = calendar.post(session_url(session, "/stop"), user=OWNER)
    assert early.status_code == 409, early.text
    assert early.json() == {
        "detail": "The session is accepted: its VMs can be stopped once it is running "
        "(when every VM is Running; refresh the page to see its state)."
    }
    assert set(states(cloud, session).values()) == {"Running"}
    for state in (PROVISIONING, RUNNING):
        advance(engine, session, state, now=datetime.now(UTC))

    for user in ("viewer1", "teacher1"):
        forbidden = calendar.post(session_url(session, "/stop"), user=user)
        assert forbidden.status_code == 403, forbidden.text
        assert forbidden.json() == {
            "detail": f"user {user!r} may not change session {session!r}: it is not theirs, "
            "and other people's sessions need can_edit on MECA Sessions"
        }
    assert set(states(cloud, session).values()) == {"Running"}

    stopped = calendar.post(session_url(session, "/stop"), user=OWNER)
    assert stopped.status_code == 200, stopped.text
    assert sorted(vm["name"] for vm in stopped.json()["changed"]) == sorted(states(cloud, session))
    assert stopped.json()["errors"] == []
    assert set(states(cloud, session).values()) == {"Stopped"}
    assert set(states(cloud, other).values()) == {"Running"}

    again = calendar.post(session_url(session, "/stop"), user=OWNER).json()
    assert (len(again["changed"]), len(again["left_alone"])) == (0, 3)

    started = calendar.post(session_url(session, "/start"), user=OWNER)
    assert started.status_code == 200, started.text
    assert [vm["state"] for vm in started.json()["changed"]] == ["Running"] * 3
    assert set(states(cloud, session).values()) == {"Running"}
    assert calendar.post(session_url(session, "/reboot"), user=OWNER).status_code == 422
