"""Every dashboard route needs an authenticated Airflow user; the plugin is mounted by Airflow itself."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.meca.web.conftest import PREFIX, Api

JSON_ROUTES = [
    "/api/summary",
    "/api/regions/alpha",
    "/api/history?type=0",
    "/api/seats",
    "/api/alerts",
    "/metrics",
]
PAGES = ["/", "/regions/alpha?window=7d"]


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_json_and_metrics_without_a_token_get_401(airflow_api: Api, path: str) -> None:
    response = airflow_api.client.get(PREFIX + path)
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_a_malformed_token_is_refused(airflow_api: Api, path: str) -> None:
    response = airflow_api.client.get(PREFIX + path, headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid JWT token"}


@pytest.mark.parametrize("path", PAGES)
def test_pages_without_a_token_redirect_to_the_airflow_login_and_back(airflow_api: Api, path: str) -> None:
    response = airflow_api.client.get(PREFIX + path)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/auth/login"
    assert parse_qs(location.query)["next"] == [f"http://testserver{PREFIX}{path}"]


def test_the_login_page_the_redirect_names_exists(airflow_api: Api) -> None:
    location = airflow_api.client.get(PREFIX + "/").headers["location"]
    assert airflow_api.client.get(location).status_code == 200


def test_the_browser_cookie_of_the_airflow_ui_is_accepted(airflow_api: Api, federation: object) -> None:
    airflow_api.client.cookies.set("_token", airflow_api.token)
    try:
        page = airflow_api.client.get(PREFIX + "/")
        data = airflow_api.client.get(PREFIX + "/api/summary")
    finally:
        airflow_api.client.cookies.clear()
    assert page.status_code == 200
    assert "MECA federation" in page.text
    assert data.status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_no_public_api_documentation(airflow_api: Api, path: str) -> None:
    assert airflow_api.client.get(PREFIX + path).status_code == 404
    assert airflow_api.get(path).status_code == 404


def test_airflow_lists_the_dashboard_in_its_navigation(airflow_api: Api) -> None:
    plugins = airflow_api.client.get("/api/v2/plugins", headers=airflow_api.auth).json()["plugins"]
    meca = next(p for p in plugins if p["name"] == "meca")
    assert (PREFIX, "MECA dashboard") in [(a["url_prefix"], a["name"]) for a in meca["fastapi_apps"]]
    views = {view["name"]: view for view in meca["external_views"]}
    view = views["MECA dashboard"]
    assert view["href"] == PREFIX.lstrip("/") + "/"
    assert (view["destination"], view["nav_top_level"]) == ("nav", True)
