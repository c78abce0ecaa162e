"""The ``meca`` Airflow plugin registration, found by Airflow's scan of the plugins folder."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from meca.web.app import URL_PREFIX
from meca.web.app import app as dashboard_app
from meca.web.calendar_app import URL_PREFIX as CALENDAR_PREFIX
from meca.web.calendar_app import app as calendar_app
from meca.web.session_control_app import URL_PREFIX as SESSIONS_PREFIX
from meca.web.session_control_app import app as session_control_app
from meca.web.session_dag_guard import SessionDagGuard
from meca.web.templates_page import URL_PREFIX as TEMPLATES_PREFIX
from meca.web.templates_page import app as templates_app


class MecaPlugin(AirflowPlugin):
    """The ``meca`` plugin: the web pages as FastAPI apps, and a guard on Airflow's own REST API."""

    name = "meca"
    fastapi_apps: list[Any] = [
        {"app": dashboard_app, "url_prefix": URL_PREFIX, "name": "MECA dashboard"},
        {"app": templates_app, "url_prefix": TEMPLATES_PREFIX, "name": "MECA template replication"},
        {"app": session_control_app, "url_prefix": SESSIONS_PREFIX, "name": "MECA session control"},
        {"app": calendar_app, "url_prefix": CALENDAR_PREFIX, "name": "MECA calendar"},
    ]
    fastapi_root_middlewares: list[Any] = [
        {"middleware": SessionDagGuard, "args": [], "kwargs": {}, "name": "MECA session DAG guard"},
    ]
    external_views: list[Any] = [
        {
            "name": "MECA dashboard",
            "href": URL_PREFIX.lstrip("/") + "/",
            "destination": "nav",
            "url_route": "meca-dashboard",
            "nav_top_level": True,
        },
        {
            "name": "MECA templates",
            "href": TEMPLATES_PREFIX.lstrip("/") + "/",
            "destination": "nav",
            "url_route": "meca-templates",
            "nav_top_level": True,
        },
        {
            "name": "MECA calendar",
            "href": CALENDAR_PREFIX.lstrip("/") + "/",
            "destination": "nav",
            "url_route": "meca-calendar",
            "nav_top_level": True,
        },
    ]
