"""Booking before any run exists: ``POST /meca/calendar/api/check`` and ``POST .../bookings``.

Airflow's own api-server app (plugins mounted, SimpleAuthManager) in this process, with
``meca_classroom_session`` in its metadata database, two simulated regions (alpha, beta) over HTTP and a
migrated SQLite MECA data database. A teacher (role ``user``) books in her own name:

- a slot with no room is refused with the reason and alternatives (the other region, other slots), and
  nothing is created (no booking row, no run);
- posting an alternative's conf as it is books it: the booking is accepted and the session's run exists,
  with a readable run id and the note "title · owner";
- a paused session DAG answers 409 and creates nothing; another teacher's name is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from cloudstack_simulator.testing import SimulatorHandle
from meca.cloudstack.hook import CloudStackHook
from meca.sessions.booking import book
from meca.sessions.capacity import asked_capacity, asked_offering
from meca.sessions.ledger import get_booking
from meca.sessions.request import SessionRequest
from meca.store.models import SessionBooking
from meca.web.csrf import HEADER, HEADER_VALUE
from tests.meca.sessions.session_cloud import OFFERING, TEMPLATE, connect_all, topology
from tests.meca.web.conftest import set_session_dag_paused
from tests.meca.web.simple_auth_api import logged_in_api_server

TEACHER = "ann@example.org"
USERS = {TEACHER: "user", "op1": "op"}
CALENDAR = "/meca/calendar/api"
RUNS = "/api/v2/dags/meca_classroom_session/dagRuns"
RUN_ID = re.compile(r"^\d{4}-\d{2}-\d{2}_cloud-lab-3_[0-9a-f]{4}$")


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]

    def post(self, path: str, body: Any, user: str = TEACHER) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[user]}", HEADER: HEADER_VALUE}
        return self.client.post(CALENDAR + path, headers=headers, json=body)

    def runs(self) -> dict[str, dict[str, Any]]:
        response = self.client.get(
            RUNS, headers={"Authorization": f"Bearer {self.tokens['op1']}"}, params={"limit": 100}
        )
        assert response.status_code == 200, response.text
        return {run["dag_run_id"]: run for run in response.json()["dag_runs"]}


@pytest.fixture(scope="module")
def api(session_dag_in_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with logged_in_api_server(USERS, tmp_path_factory.mktemp("auth")) as (client, tokens):
        yield Api(client, tokens)


@pytest.fixture
def cloud(simulator_factory, monkeypatch: pytest.MonkeyPatch) -> SimulatorHandle:
    handle = simulator_factory(topology("alpha", "beta", deploy_s=0.2))
    connect_all(handle, monkeypatch)
    return handle


def conf(start: datetime, **changes: Any) -> dict[str, Any]:
    return {
        "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat(),
        "title": "Cloud lab 3",
        "owner": TEACHER,
        "region": "alpha",
        "template": TEMPLATE,
        "instances": 2,
        "offering": OFFERING,
        **changes,
    }


def rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(SessionBooking)) or 0)


def fill_alpha(engine: Engine, start: datetime) -> None:
    """Book all of alpha but one VM at ``start`` (the room asked from the simulated region itself)."""
    hook = CloudStackHook("cloudstack_alpha")
    size = asked_offering(hook, OFFERING)
    assert size is not None
    room = asked_capacity(hook).fits(size)
    now = datetime.now(UTC)
    blocker = SessionRequest.from_conf(conf(start, owner="bob@example.org"), now=now)
    blocker = replace(blocker, instances=room - 1)  # more than one teacher may book: the ledger takes it
    book(engine, blocker, session_id="blocker", now=now)


@pytest.mark.usefixtures("cloud", "session_dag_unpaused")
def test_a_refusal_has_its_reasons_and_alternatives_and_an_alternative_books_in_one_post(
    api: Api, engine: Engine
) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    fill_alpha(engine, start)
    before_rows, before_runs = rows(engine), set(api.runs())

    refused = api.post("/bookings", conf(start))

    assert refused.status_code == 422, refused.text
    answer = refused.json()
    assert any("alpha has room for only 1 VM(s)" in line for line in answer["detail"]), answer
    kinds = [alternative["kind"] for alternative in answer["alternatives"]]
    assert kinds[0] == "region"
    assert answer["alternatives"][0]["conf"] == {
        **conf(start, region="beta"),
        "comments": "",
        "recurrence_weeks": 0,
    }
    assert "slot" in kinds
    slot = next(a for a in answer["alternatives"] if a["kind"] == "slot")
    assert slot["conf"]["region"] == "alpha"
    assert datetime.fromisoformat(slot["conf"]["end"]) - datetime.fromisoformat(slot["conf"]["start"]) == (
        timedelta(hours=2)
    )
    assert (rows(engine), set(api.runs())) == (before_rows, before_runs)  # nothing created
    checked = api.post("/check", conf(start))
    assert checked.status_code == 422
    assert checked.json() == answer  # the check and the booking endpoint decide alike

    booked = api.post("/bookings", slot["conf"])

    assert booked.status_code == 201, booked.text
    session = booked.json()
    assert session["state"] == "accepted"
    assert session["region"] == "alpha"
    assert RUN_ID.match(session["run_id"]), session["run_id"]
    assert session["session_page"] == f"sessions/{session['run_id']}"
    stored = get_booking(engine, session["run_id"])
    assert stored is not None
    assert stored.state == "accepted"
    run = api.runs()[session["run_id"]]
    assert run["conf"]["start"] == datetime.fromisoformat(slot["conf"]["start"]).astimezone(UTC).isoformat()
    assert run["note"] == f"Cloud lab 3 · {TEACHER}"
    assert run["triggering_user_name"] == TEACHER


@pytest.mark.usefixtures("cloud", "session_dag_unpaused")
def test_another_teachers_name_and_unknown_names_are_refused_with_the_valid_ones(
    api: Api, engine: Engine
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)

    refused = api.post(
        "/bookings", conf(start, owner="bob@example.org", template="Windows 95", offering="Huge")
    )

    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert (
        detail[0]
        == "You book sessions in your own name: set the owner to 'ann@example.org', not 'bob@example.org'."
    )
    assert any(
        line.startswith("The service offering 'Huge' does not exist in region alpha; the valid names")
        for line in detail
    )
    assert any(f"the valid names are {TEMPLATE}" in line for line in detail if "Windows 95" in line)
    assert rows(engine) == 0
    # An operator books for anyone.
    for_bob = api.post("/check", conf(start, owner="bob@example.org"), user="op1")
    assert for_bob.status_code == 200, for_bob.text


@pytest.mark.usefixtures("cloud")
def test_a_paused_session_dag_is_said_and_nothing_is_booked(api: Api, engine: Engine) -> None:
    set_session_dag_paused(True)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    before = set(api.runs())

    refused = api.post("/bookings", conf(start))

    assert refused.status_code == 409, refused.text
    assert "paused" in refused.json()["detail"][0]
    assert rows(engine) == 0
    assert set(api.runs()) == before
    page = api.client.get("/meca/calendar/", headers={"Authorization": f"Bearer {api.tokens[TEACHER]}"})
    assert "Bookings are on hold" in page.text


@pytest.mark.usefixtures("cloud", "session_dag_unpaused")
def test_the_booking_endpoint_refuses_forged_posts(api: Api, engine: Engine) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    forged = api.client.post(
        CALENDAR + "/bookings",
        content=str(conf(start)),
        headers={"Content-Type": "text/plain", "Origin": "http://127.0.0.1:9999"},
        cookies={"_token": api.tokens[TEACHER]},
    )
    assert forged.status_code == 403, forged.text
    assert rows(engine) == 0
