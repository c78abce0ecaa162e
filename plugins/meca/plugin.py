"""The ``meca`` Airflow plugin registration, found by Airflow's scan of the plugins folder."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from meca.web.app import URL_PREFIX
from meca.web.app import app as dashboard_app
from meca.web.templates_page import URL_PREFIX as TEMPLATES_PREFIX
from meca.web.templates_page import app as templates_app


class MecaPlugin(AirflowPlugin):
    """The ``meca`` plugin; the web pages are added here as FastAPI apps as they are written."""

    name = "meca"
    fastapi_apps: list[Any] = [
        {"app": dashboard_app, "url_prefix": URL_PREFIX, "name": "MECA dashboard"},
        {"app": templates_app, "url_prefix": TEMPLATES_PREFIX, "name": "MECA template replication"},
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
    ]
