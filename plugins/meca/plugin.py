"""The ``meca`` Airflow plugin registration, found by Airflow's scan of the plugins folder."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin


class MecaPlugin(AirflowPlugin):
    """The ``meca`` plugin; the web pages are added here as FastAPI apps as they are written."""

    name = "meca"
    fastapi_apps: list[Any] = []
    external_views: list[Any] = []
