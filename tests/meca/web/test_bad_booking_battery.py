"""The bad bookings of :mod:`tests.meca.sessions.bad_bookings` through the web: refused, nothing created.

Airflow's own api-server app (plugins mounted, SimpleAuthManager) in this process, with
``meca_classroom_session`` in its metadata database. ``alice@polito.it`` (role ``user``, a teacher)
books in her own name, ``op1`` (role ``op``) too:

- every case marked :attr:`Where.CHECK` through the calendar's ``POST /meca/calendar/api/check``
  answers 422 with its message, and so does the booking endpoint ``POST .../api/bookings`` (the
  calendar's Reserve slot), with no run and no booking created;
- every case marked :attr:`Where.TRIGGER` through ``POST /api/v2/dags/meca_classroom_session/dagRuns``
  answers 400 with its message, for the teacher and the operator alike, and no run exists.

No booking row exists afterwards. The good booking passes both (its run is deleted again).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from meca.store.models import SessionBooking
from meca.web.csrf import HEADER, HEADER_VALUE
from tests.meca.sessions.bad_bookings import GOOD, GOOD_RUN_ID, BadBooking, Where, cases
from tests.meca.sessions.conftest import federation  # noqa: F401  # the three simulated regions
from tests.meca.web.simple_auth_api import logged_in_api_server

TEACHER = str(GOOD["owner"])
USERS = {TEACHER: "user", "op1": "op"}
CHECK = "/meca/calendar/api/check"
BOOKINGS = "/meca/calendar/api/bookings"
RUNS = "/api/v2/dags/meca_classroom_session/dagRuns"
CHECKED = cases(Where.CHECK)
TRIGGERED = cases(Where.TRIGGER)


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]

    def post(self, path: str, user: str, body: Any) -> httpx.Response:
        """``POST`` a JSON body as the MECA pages do (the token, and the header they send)."""
        headers = {"Authorization": f"Bearer {self.tokens[user]}", HEADER: HEADER_VALUE}
        return self.client.post(path, headers=headers, json=body)

    def run_ids(self) -> set[str]:
        response = self.client.get(
            RUNS, headers={"Authorization": f"Bearer {self.tokens['op1']}"}, params={"limit": 100}
        )
        assert response.status_code == 200, response.text
        return {run["dag_run_id"] for run in response.json()["dag_runs"]}


@pytest.fixture(scope="module")
def api(session_dag_in_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with logged_in_api_server(USERS, tmp_path_factory.mktemp("auth")) as (client, tokens):
        yield Api(client, tokens)


def booking_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(SessionBooking)) or 0


def test_the_web_batteries_are_large_enough() -> None:
    assert len(CHECKED) >= 30
    assert len(TRIGGERED) >= 20


@pytest.mark.parametrize("case", CHECKED, ids=[case.name for case in CHECKED])
def test_the_calendar_check_refuses_the_bad_booking_with_its_message(
    api: Api, engine: Engine, case: BadBooking
) -> None:
    response = api.post(CHECK, TEACHER, case.conf())

    assert response.status_code == 422, response.text
    messages = response.json()["detail"]
    assert any(case.message in message for message in messages), messages
    assert booking_rows(engine) == 0


@pytest.mark.usefixtures("session_dag_unpaused")
@pytest.mark.parametrize("case", CHECKED, ids=[case.name for case in CHECKED])
def test_the_booking_endpoint_refuses_the_bad_booking_and_creates_nothing(
    api: Api, engine: Engine, case: BadBooking
) -> None:
    before = api.run_ids()

    response = api.post(BOOKINGS, TEACHER, case.conf())

    assert response.status_code == 422, response.text
    messages = response.json()["detail"]
    assert any(case.message in message for message in messages), messages
    assert api.run_ids() == before
    assert booking_rows(engine) == 0


@pytest.mark.parametrize("user", [TEACHER, "op1"])
@pytest.mark.parametrize("case", TRIGGERED, ids=[case.name for case in TRIGGERED])
def test_the_rest_trigger_refuses_the_bad_booking_before_any_run_exists(
    api: Api, engine: Engine, case: BadBooking, user: str
) -> None:
    before = api.run_ids()

    response = api.post(RUNS, user, {"logical_date": None, "dag_run_id": case.run_id, "conf": case.conf()})

    assert response.status_code == 400, response.text
    messages = response.json()["detail"]
    assert any(case.message in message for message in messages), messages
    assert api.run_ids() == before
    assert booking_rows(engine) == 0


@pytest.mark.usefixtures("federation")
def test_the_good_booking_passes_the_check_and_the_trigger(api: Api, engine: Engine) -> None:
    checked = api.post(CHECK, TEACHER, GOOD)  # the check asks the simulated regions
    assert checked.status_code == 200, checked.text
    assert checked.json()["region"] == "MECA-PolITO"  # alice's home region
    triggered = api.post(RUNS, TEACHER, {"logical_date": None, "dag_run_id": GOOD_RUN_ID, "conf": GOOD})
    assert triggered.status_code == 200, triggered.text
    try:
        assert GOOD_RUN_ID in api.run_ids()
    finally:
        deleted = api.client.delete(
            f"{RUNS}/{quote(GOOD_RUN_ID, safe='')}", headers={"Authorization": f"Bearer {api.tokens['op1']}"}
        )
        assert deleted.status_code == 204, deleted.text
