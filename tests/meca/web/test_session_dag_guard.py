"""The session DAG guard inside Airflow's own api-server app: no pausing, no booking in another's name.

The app is Airflow's own (the plugin's root middleware installed) with the SimpleAuthManager, where
only ``op`` and ``admin`` hold ``can_edit`` on ``MECA Sessions`` (:func:`meca.web.auth.is_authorized`),
and ``meca_classroom_session`` is written into the metadata database as ``dag.test()`` does, so that
Airflow itself answers what the guard lets through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.types import Message

from meca.web.session_dag_guard import (
    MAX_TRIGGER_BODY_BYTES,
    guarded_request,
    read_body,
    replaying,
    route_path,
)
from tests.meca.web.simple_auth_api import logged_in_api_server

SESSION_DAG = "meca_classroom_session"
DAG_URL = f"/api/v2/dags/{SESSION_DAG}"
RUNS_URL = f"{DAG_URL}/dagRuns"
#: The start of the guard's refusals (it names the permission; Airflow's own 403s do not).
PAUSE_REFUSAL = "may not pause or unpause DAG meca_classroom_session"
OWNER_REFUSAL = "teachers book sessions in their own name: set conf.owner to one of 'ann'"

#: user name -> SimpleAuthManager role. ``ann`` and ``bob`` are teachers (``user``), ``op1`` an operator.
USERS = {
    "ann": "user",
    "bob": "user",
    "op1": "op",
    "viewer1": "viewer",
}


@dataclass
class Api:
    """A client of the in-process api-server and a real token per user of :data:`USERS`."""

    client: TestClient
    tokens: dict[str, str]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def pause(self, user: str, paused: bool, url: str = DAG_URL, **params: str) -> httpx.Response:
        return self.client.patch(url, headers=self.auth(user), params=params, json={"is_paused": paused})

    def is_paused(self) -> bool:
        response = self.client.get(DAG_URL, headers=self.auth("viewer1"))
        assert response.status_code == 200, response.text
        return bool(response.json()["is_paused"])

    def trigger(self, user: str, body: Any) -> httpx.Response:
        return self.client.post(RUNS_URL, headers=self.auth(user), json=body)

    def run_ids(self) -> set[str]:
        response = self.client.get(RUNS_URL, headers=self.auth("op1"), params={"limit": 100})
        assert response.status_code == 200, response.text
        return {run["dag_run_id"] for run in response.json()["dag_runs"]}


@pytest.fixture(scope="module")
def airflow_api(session_dag_in_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Airflow's api-server app (plugins installed), SimpleAuthManager, the :data:`USERS` logged in."""
    with logged_in_api_server(USERS, tmp_path_factory.mktemp("auth")) as (client, tokens):
        yield Api(client, tokens)


@pytest.fixture
def unpaused(airflow_api: Api) -> Iterator[Api]:
    """The session DAG unpaused by an operator (the guard lets them), paused again afterwards."""
    response = airflow_api.pause("op1", False)
    assert response.status_code == 200, response.text
    assert airflow_api.is_paused() is False
    yield airflow_api
    assert airflow_api.pause("op1", True).status_code == 200


def _conf(owner: str) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    return {
        "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat(),
        "title": "Cloud lab",
        "owner": owner,
        "region": "any",
        "template": "Ubuntu 22.04",
        "instances": 2,
        "offering": "Small",
    }


def _trigger_body(owner: str | None, run_id: str | None = None) -> dict[str, Any]:
    conf = _conf("x")
    if owner is None:
        del conf["owner"]
    else:
        conf["owner"] = owner
    return {"logical_date": None, "dag_run_id": run_id, "conf": conf}


def _delete_run(api: Api, run_id: str) -> None:
    response = api.client.delete(f"{RUNS_URL}/{run_id}", headers=api.auth("op1"))
    assert response.status_code == 204, response.text


def test_a_teacher_may_neither_pause_nor_unpause_the_session_dag(unpaused: Api) -> None:
    api = unpaused
    response = api.pause("ann", True)
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert detail.startswith(f"user 'ann' {PAUSE_REFUSAL}")
    assert "stops every teacher's sessions" in detail
    assert "can_edit on MECA Sessions" in detail
    assert api.is_paused() is False

    response = api.pause("ann", True, DAG_URL + "/")
    assert response.status_code == 403
    assert PAUSE_REFUSAL in response.json()["detail"]
    assert api.is_paused() is False

    assert api.pause("op1", True).status_code == 200
    response = api.pause("bob", False)
    assert response.status_code == 403
    assert PAUSE_REFUSAL in response.json()["detail"]
    assert api.is_paused() is True
    assert api.pause("op1", False).status_code == 200


def test_a_teacher_may_not_pause_dags_in_bulk(unpaused: Api) -> None:
    api = unpaused
    for pattern in ("meca_classroom%", "~", "meca_region_check"):
        response = api.pause("ann", True, "/api/v2/dags", dag_id_pattern=pattern)
        assert response.status_code == 403, pattern
        assert PAUSE_REFUSAL in response.json()["detail"]
        assert api.is_paused() is False


def test_an_operator_pauses_and_unpauses_in_bulk(unpaused: Api) -> None:
    api = unpaused
    response = api.pause("op1", True, "/api/v2/dags", dag_id_pattern=SESSION_DAG)
    assert response.status_code == 200, response.text
    assert [dag["dag_id"] for dag in response.json()["dags"]] == [SESSION_DAG]
    assert api.is_paused() is True
    assert api.pause("op1", False, "/api/v2/dags", dag_id_pattern=SESSION_DAG).status_code == 200
    assert api.is_paused() is False


def test_a_teacher_books_only_in_their_own_name(airflow_api: Api) -> None:
    api = airflow_api
    refused = {
        "another teacher": _trigger_body("bob", "guard-other"),
        "no owner": _trigger_body(None, "guard-no-owner"),
        "an owner that is no text": {**_trigger_body("ann", "guard-number"), "conf": {"owner": 7}},
        "no conf": {"logical_date": None, "dag_run_id": "guard-no-conf"},
    }
    for case, body in refused.items():
        response = api.trigger("ann", body)
        assert response.status_code == 403, case
        detail = response.json()["detail"]
        assert detail.startswith(OWNER_REFUSAL), case
        assert "needs can_edit on MECA Sessions" in detail, case
    assert "gave conf.owner 'bob'" in api.trigger("ann", refused["another teacher"]).json()["detail"]
    assert "gave no conf.owner" in api.trigger("ann", refused["no owner"]).json()["detail"]

    response = api.client.post(
        RUNS_URL, headers={**api.auth("ann"), "Content-Type": "application/json"}, content=b"{not json"
    )
    assert response.status_code == 403
    assert "gave a body that is not JSON" in response.json()["detail"]
    assert not api.run_ids() & {"guard-other", "guard-no-owner", "guard-number", "guard-no-conf"}

    # Their own name, in any case and with spaces: the guard lets it through and Airflow books it,
    # with the body the guard read replayed unchanged.
    body = _trigger_body("  ANN ", "guard-own")
    response = api.trigger("ann", body)
    assert response.status_code == 200, response.text
    try:
        assert response.json()["conf"] == body["conf"]
        assert response.json()["dag_run_id"] == "guard-own"
    finally:
        _delete_run(api, "guard-own")


def test_a_booking_in_ones_own_name_gets_airflows_own_answer(airflow_api: Api) -> None:
    body = _trigger_body("ann", "guard-invalid")
    body["conf"]["instances"] = 0
    response = airflow_api.trigger("ann", body)
    assert response.status_code == 400, response.text
    assert "instances" in response.text
    assert "guard-invalid" not in airflow_api.run_ids()


def test_the_ui_cookie_identifies_the_user_too(airflow_api: Api) -> None:
    cookie = {"Cookie": f"_token={airflow_api.tokens['ann']}"}
    response = airflow_api.client.post(RUNS_URL, headers=cookie, json=_trigger_body("bob", "guard-cookie"))
    assert response.status_code == 403
    assert response.json()["detail"].startswith(OWNER_REFUSAL)
    response = airflow_api.client.patch(DAG_URL, headers=cookie, json={"is_paused": True})
    assert response.status_code == 403
    assert PAUSE_REFUSAL in response.json()["detail"]


def test_an_operator_books_for_anyone(airflow_api: Api) -> None:
    response = airflow_api.trigger("op1", _trigger_body("bob", "guard-op"))
    assert response.status_code == 200, response.text
    try:
        assert response.json()["conf"]["owner"] == "bob"
    finally:
        _delete_run(airflow_api, "guard-op")


def test_an_oversized_booking_is_refused_unread(airflow_api: Api) -> None:
    body = _trigger_body("ann", "guard-big")
    body["conf"]["comments"] = "x" * MAX_TRIGGER_BODY_BYTES
    response = airflow_api.trigger("ann", body)
    assert response.status_code == 413
    assert "at most 1048576 bytes" in response.json()["detail"]
    assert "guard-big" not in airflow_api.run_ids()


def test_without_a_valid_token_airflow_answers_itself(airflow_api: Api) -> None:
    client = airflow_api.client
    for response in (
        client.patch(DAG_URL, json={"is_paused": True}),
        client.post(RUNS_URL, json=_trigger_body("bob", "guard-anonymous")),
    ):
        assert response.status_code == 401
        assert response.json()["detail"] == "Not authenticated"
    bad = {"Authorization": "Bearer not-a-token"}
    for response in (
        client.patch(DAG_URL, headers=bad, json={"is_paused": True}),
        client.post(RUNS_URL, headers=bad, json=_trigger_body("bob", "guard-bad-token")),
    ):
        assert response.status_code == 403
        assert response.json()["detail"] == "Invalid JWT token"


def test_other_routes_are_untouched(airflow_api: Api) -> None:
    api = airflow_api
    missing = api.client.patch("/api/v2/dags/no_such_dag", headers=api.auth("ann"), json={"is_paused": True})
    assert missing.status_code == 404
    missing = api.client.post(
        "/api/v2/dags/no_such_dag/dagRuns", headers=api.auth("ann"), json=_trigger_body("bob")
    )
    assert missing.status_code == 404
    dag = api.client.get(DAG_URL, headers=api.auth("ann"))
    assert dag.status_code == 200
    assert dag.json()["dag_id"] == SESSION_DAG
    runs = api.client.get(RUNS_URL, headers=api.auth("ann"))
    assert runs.status_code == 200
    listed = api.client.post(
        "/api/v2/dags/~/dagRuns/list", headers=api.auth("ann"), json={"dag_ids": [SESSION_DAG]}
    )
    assert listed.status_code == 200, listed.text


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        ("/api/v2/dags/x", "", "/api/v2/dags/x"),
        ("/airflow/api/v2/dags/x", "/airflow", "/api/v2/dags/x"),
        ("/api/v2/dags/x", "/airflow", "/api/v2/dags/x"),
        ("/airflowx/api/v2/dags/x", "/airflow", "/airflowx/api/v2/dags/x"),
        ("/airflow", "/airflow", ""),
    ],
)
def test_route_path_is_below_the_base_path(path: str, root_path: str, expected: str) -> None:
    assert route_path({"type": "http", "path": path, "root_path": root_path}) == expected


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("PATCH", "/api/v2/dags/meca_classroom_session", "pause"),
        ("PATCH", "/api/v2/dags/meca_classroom_session/", "pause"),
        ("PATCH", "/api/v2/dags", "pause"),
        ("PATCH", "/api/v2/dags/", "pause"),
        ("POST", "/api/v2/dags/meca_classroom_session/dagRuns", "book"),
        ("POST", "/api/v2/dags/meca_classroom_session/dagRuns/", "book"),
        ("GET", "/api/v2/dags/meca_classroom_session", None),
        ("DELETE", "/api/v2/dags/meca_classroom_session", None),
        ("PATCH", "/api/v2/dags/meca_region_check", None),
        ("PATCH", "/api/v2/dags/meca_classroom_session/dagRuns/r1", None),
        ("POST", "/api/v2/dags/meca_region_check/dagRuns", None),
        ("POST", "/api/v2/dags/~/dagRuns/list", None),
        ("POST", "/meca/sessions/api/v2/dags/meca_classroom_session/dagRuns", None),
    ],
)
def test_only_the_guarded_requests_are_looked_at(method: str, path: str, expected: str | None) -> None:
    assert guarded_request(method, path) == expected


def _receiver(messages: list[Message]) -> Any:
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0)

    return receive


def test_a_body_in_chunks_is_read_whole_and_replayed_once() -> None:
    disconnect: Message = {"type": "http.disconnect"}
    whole = b'{"conf": {"owner": "ann"}}'

    async def scenario() -> None:
        receive = _receiver(
            [
                {"type": "http.request", "body": whole[:9], "more_body": True},
                {"type": "http.request", "body": whole[9:], "more_body": False},
                disconnect,
            ]
        )
        assert await read_body(receive, 100) == (whole, True)
        replayed = replaying(whole, receive)
        assert await replayed() == {"type": "http.request", "body": whole, "more_body": False}
        assert await replayed() == disconnect

        chunks: list[Message] = [{"type": "http.request", "body": b"x" * 60, "more_body": True}] * 3
        assert await read_body(_receiver(chunks), 100) == (b"x" * 120, False)
        assert await read_body(_receiver([disconnect]), 100) is None

    asyncio.run(scenario())
