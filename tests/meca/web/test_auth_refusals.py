"""How a refusal is answered: 403 as JSON for endpoints, as a small HTML page for pages.

Under the SimpleAuthManager of the other web tests no ``GET`` is ever refused (every user may read
every custom view), so the answers are shown here on a small app with the plugin's own handlers;
the refusals of a real FAB Teacher are in the e2e suite.
"""

from __future__ import annotations

import pytest
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from fastapi import FastAPI
from fastapi.testclient import TestClient

from meca.security.roles import ALL_SESSIONS, DATA
from meca.web.auth import NotAuthorized, add_auth_handlers, refusal
from tests.meca.web.html_nodes import parse

MARKUP = SimpleAuthManagerUser(username="<b>ann</b>", role="user")


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    add_auth_handlers(app)

    @app.get("/page")
    def page() -> None:
        raise NotAuthorized(refusal(MARKUP, DATA), page=True)

    @app.get("/json")
    def json_endpoint() -> None:
        raise NotAuthorized(refusal(MARKUP, ALL_SESSIONS, "PUT"), page=False)

    return TestClient(app)


def test_the_refusal_names_the_user_and_the_permission() -> None:
    user = SimpleAuthManagerUser(username="ann", role="user")
    assert refusal(user, DATA) == "user 'ann' may not read MECA Data (that needs can_read on MECA Data)"
    assert refusal(user, ALL_SESSIONS, "PUT") == (
        "user 'ann' may not change MECA Sessions (that needs can_edit on MECA Sessions)"
    )


def test_an_endpoint_answers_403_json(client: TestClient) -> None:
    response = client.get("/json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "user '<b>ann</b>' may not change MECA Sessions (that needs can_edit on MECA Sessions)"
    }


def test_a_page_answers_a_403_page_with_the_reason_escaped(client: TestClient) -> None:
    response = client.get("/page")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "<b>" not in response.text
    page = parse(response.text)
    assert page.one("h1").text == "Forbidden"
    assert page.one("p", id="reason").text == (
        "user '<b>ann</b>' may not read MECA Data (that needs can_read on MECA Data)."
    )
