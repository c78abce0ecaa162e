"""The dashboard's FastAPI app, mounted by :class:`meca.plugin.MecaPlugin` in Airflow's api-server.

Routes (under the mount prefix, ``/meca/dashboard``): ``/`` the federation page, ``/regions/<name>``,
``/api/summary``, ``/api/regions/<name>``, ``/api/history``, ``/api/seats``, ``/api/alerts`` and
``/metrics``. Every one needs an authenticated Airflow user (:mod:`meca.web.auth`) with ``can_read`` on
a MECA resource: the pages and the JSON endpoints (the numbers the pages show) ``MECA Dashboard``;
``/metrics`` (every region's raw values, for Prometheus) ``MECA Data``. There is no OpenAPI document
or docs page.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError, ProgrammingError

from meca.web import api, openmetrics, pages
from meca.web.auth import add_auth_handlers
from meca.web.database import DataDatabaseUnavailable

URL_PREFIX = "/meca/dashboard"


def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DataDatabaseUnavailable):
        detail = str(exc)
    else:
        detail = (
            f"cannot read the MECA data database (is it reachable, and migrated with "
            f"`python -m meca.store.migrate`?): {getattr(exc, 'orig', exc)}"
        )
    return JSONResponse({"detail": detail}, status_code=503)


def create_app() -> FastAPI:
    """A new dashboard app (routes, authentication and error handlers)."""
    dashboard = FastAPI(title="MECA dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    dashboard.include_router(pages.router)
    dashboard.include_router(api.router)
    dashboard.include_router(openmetrics.router)
    add_auth_handlers(dashboard)
    for error in (DataDatabaseUnavailable, OperationalError, ProgrammingError):
        dashboard.add_exception_handler(error, _unavailable)
    return dashboard


app = create_app()
