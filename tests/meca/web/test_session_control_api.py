"""Cancel and extend a session over the plugin's JSON endpoints, inside Airflow's own api-server app.

The app is Airflow's own (plugins mounted) with the SimpleAuthManager and one user per role that
matters. Every user may look at a session (the SimpleAuthManager lets every user read every custom
view); a ``viewer`` may not cancel or extend it; a ``user`` (a teacher) only when they own it (the
booking's owner is their user name, ignoring case); ``op`` and ``admin`` may change every session.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from meca.regions import Region
from meca.sessions.capacity import OfferingSize, RegionCapacity, RegionChoiceInput
from meca.sessions.control import extend_session
from meca.sessions.ledger import get_booking, reserve
from meca.sessions.request import SessionRequest
from meca.store.migrate import upgrade
from meca.web.csrf import HEADER, HEADER_VALUE
from tests.meca.web.simple_auth_api import logged_in_api_server

PREFIX = "/meca/sessions/api/sessions/"
SESSION = "manual__2026-03-04T09:00:00+00:00"
GIB = 1024**3
ALPHA = Region("cloudstack_alpha", "alpha", 1, "Alpha", "Torino", "IT", 45.0, 7.6, "#1f77b4")
ROOM = RegionCapacity(64 * GIB, 64_000, measured_at=datetime.now(UTC), source="region")


#: user name -> SimpleAuthManager role; ``ann@example.org`` owns the session, ``bob@example.org`` does not.
USERS = {
    "viewer1": "viewer",
    "ann@example.org": "user",
    "bob@example.org": "user",
    "op1": "op",
    "admin1": "admin",
}
OWNER = "ann@example.org"


@dataclass
class Api:
    """A client of the in-process api-server and a real token per user of :data:`USERS`."""

    client: TestClient
    tokens: dict[str, str]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def post(self, url: str, user: str | None, body: dict[str, str] | None = None) -> httpx.Response:
        """``POST`` as the MECA pages do: a JSON body (``{}`` by default), the user's token if any."""
        headers = self.auth(user) if user else {HEADER: HEADER_VALUE}
        return self.client.post(url, headers=headers, json={} if body is None else body)


@pytest.fixture(scope="module")
def airflow_api(airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Airflow's api-server app (plugins mounted), SimpleAuthManager, the users of :data:`USERS` logged in."""
    with logged_in_api_server(USERS, tmp_path_factory.mktemp("auth")) as (client, tokens):
        yield Api(client, tokens)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'meca-data.db'}")
    upgrade(engine)
    monkeypatch.setenv("MECA_DATA_DB_URL", engine.url.render_as_string(hide_password=False))
    _book(engine, SESSION, owner="Ann@Example.org")
    yield engine
    engine.dispose()


def _book(engine: Engine, session_id: str, *, owner: str) -> None:
    now = datetime.now(UTC)
    start = now + timedelta(hours=1)
    conf = {
        "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat(),
        "title": "Cloud lab",
        "owner": owner,
        "region": "alpha",
        "template": "Ubuntu 22.04",
        "instances": 3,
        "offering": "Small",
    }
    facts = RegionChoiceInput(ALPHA, ROOM, OfferingSize.of("Small", 1, 1000, 1024), template_ready=True)
    reserve(engine, SessionRequest.from_conf(conf, now=now), session_id=session_id, regions=[facts], now=now)


def _url(action: str = "", session_id: str = SESSION) -> str:
    return PREFIX + quote(session_id, safe="") + action


def test_every_route_needs_a_user(airflow_api: Api, engine: Engine) -> None:
    for response in (
        airflow_api.client.get(_url()),
        airflow_api.post(_url("/cancel"), None),
        airflow_api.post(_url("/extend"), None, {"end": "2030-01-01T00:00:00Z"}),
    ):
        assert response.status_code == 401
        assert response.json() == {"detail": "Not authenticated"}
    assert get_booking(engine, SESSION).state == "accepted"


def test_a_viewer_may_look_but_not_cancel_or_extend(airflow_api: Api, engine: Engine) -> None:
    end = get_booking(engine, SESSION).end

    shown = airflow_api.client.get(_url(), headers=airflow_api.auth("viewer1"))
    cancel = airflow_api.post(_url("/cancel"), "viewer1")
    extend = airflow_api.post(_url("/extend"), "viewer1", {"end": (end + timedelta(minutes=30)).isoformat()})

    assert shown.status_code == 200, shown.text
    assert shown.json()["state"] == "accepted"
    for refused in (cancel, extend):
        assert refused.status_code == 403, refused.text
        assert refused.json() == {
            "detail": f"user 'viewer1' may not change session {SESSION!r}: it is not theirs, "
            "and other people's sessions need can_edit on MECA Sessions"
        }
    booking = get_booking(engine, SESSION)
    assert (booking.state, booking.end, booking.changed_by) == ("accepted", end, None)


def test_a_teacher_may_not_change_another_teachers_session(airflow_api: Api, engine: Engine) -> None:
    other = "bob@example.org"
    end = get_booking(engine, SESSION).end

    shown = airflow_api.client.get(_url(), headers=airflow_api.auth(other))
    cancel = airflow_api.post(_url("/cancel"), other)
    extend = airflow_api.post(_url("/extend"), other, {"end": (end + timedelta(minutes=30)).isoformat()})

    # The SimpleAuthManager lets every user read every custom view, MECA Sessions included.
    assert shown.status_code == 200, shown.text
    for refused in (cancel, extend):
        assert refused.status_code == 403, refused.text
        assert refused.json() == {
            "detail": f"user 'bob@example.org' may not change session {SESSION!r}: it is not theirs, "
            "and other people's sessions need can_edit on MECA Sessions"
        }
    booking = get_booking(engine, SESSION)
    assert (booking.state, booking.end, booking.changed_by) == ("accepted", end, None)


def test_owning_a_session_is_not_enough_without_the_right_to_trigger_sessions(
    airflow_api: Api, engine: Engine
) -> None:
    _book(engine, "viewers-lab", owner="Viewer1")

    cancel = airflow_api.post(_url("/cancel", "viewers-lab"), "viewer1")

    assert cancel.status_code == 403, cancel.text
    assert cancel.json() == {
        "detail": "user 'viewer1' owns session 'viewers-lab' but may not trigger runs of DAG "
        "meca_classroom_session, which using one's own sessions needs"
    }
    assert get_booking(engine, "viewers-lab").state == "accepted"


@pytest.mark.parametrize("user", [OWNER, "op1", "admin1"])
def test_cancel_records_who_and_is_shown(airflow_api: Api, engine: Engine, user: str) -> None:
    shown = airflow_api.client.get(_url(), headers=airflow_api.auth(user))
    assert shown.status_code == 200
    assert shown.json()["state"] == "accepted"
    assert shown.json()["instances"] == 3

    cancelled = airflow_api.post(_url("/cancel"), user)

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["changed_by"] == user
    assert get_booking(engine, SESSION).state == "cancelled"
    refused = airflow_api.client.post(
        _url("/extend"), headers=airflow_api.auth(user), json={"end": "2099-01-01T00:00Z"}
    )
    assert refused.status_code == 409
    assert refused.json() == {"detail": [f"The session {SESSION} is cancelled; it cannot be extended."]}


def test_extension_refusals_are_explained(airflow_api: Api, engine: Engine) -> None:
    end = get_booking(engine, SESSION).end
    cases = {
        "tomorrow-ish": "The new end 'tomorrow-ish' is not a date and time like 2025-03-04T11:00:00+01:00.",
        "2030-01-01T10:00:00": "The new end 2030-01-01T10:00:00 has no time zone: add it, e.g. +01:00 or Z.",
        (end + timedelta(minutes=30)).isoformat(): "Region alpha has no capacity figures yet: "
        "try again after the next sweep.",
    }
    for new_end, message in cases.items():
        response = airflow_api.client.post(
            _url("/extend"), headers=airflow_api.auth(OWNER), json={"end": new_end}
        )
        assert response.status_code == 409, response.text
        assert response.json() == {"detail": [message]}
    assert get_booking(engine, SESSION).end == end


def test_extension_with_room_moves_the_end(engine: Engine) -> None:
    end = get_booking(engine, SESSION).end
    later = end + timedelta(minutes=45)

    extended = extend_session(
        engine, SESSION, later.isoformat(), by="teacher", now=datetime.now(UTC), capacity=ROOM
    )

    assert extended.end == later
    assert get_booking(engine, SESSION).end == later


def test_an_unknown_session_is_404(airflow_api: Api, engine: Engine) -> None:
    response = airflow_api.post(PREFIX + "nope/cancel", "admin1")
    assert response.status_code == 404
    assert response.json() == {"detail": "no booking has session id 'nope'"}
