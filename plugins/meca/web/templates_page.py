"""The template status page: templates by regions (version, checksum, state, last verified, last error).

A FastAPI app mounted by :class:`meca.plugin.MecaPlugin` at ``/meca/templates``: ``/`` is the HTML
page, ``/api/status`` the same rows as JSON. Both need an authenticated Airflow user with ``can_read``
on ``MECA Templates`` (:mod:`meca.web.auth`); the rows come from the ``template_status`` table of the MECA
data database, written by the ``meca_template_replication`` DAG.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from meca.mgtr.status import StatusRow, status_rows
from meca.security.roles import TEMPLATES
from meca.web import humanize
from meca.web.auth import add_auth_handlers, requires_meca
from meca.web.database import DataDatabaseUnavailable, data_engine

URL_PREFIX = "/meca/templates"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters.update(utc=humanize.utc)

pages = APIRouter(dependencies=[Depends(requires_meca(TEMPLATES, page=True))])
api = APIRouter(dependencies=[Depends(requires_meca(TEMPLATES))])


def matrix(rows: list[StatusRow]) -> tuple[list[str], list[str], dict[tuple[str, str], StatusRow]]:
    """The templates (rows), the regions (columns) and the cell of each (template, region).

    :param rows: the status rows.
    """
    paths = sorted({row.template_path for row in rows})
    regions = sorted({row.region for row in rows})
    return paths, regions, {(row.template_path, row.region): row for row in rows}


@pages.get("/", response_class=HTMLResponse)
def status_page(request: Request) -> HTMLResponse:
    """The matrix: one row per catalog template, one column per region."""
    paths, regions, cells = matrix(status_rows(data_engine()))
    context: dict[str, Any] = {
        "title": "Template replication",
        "paths": paths,
        "regions": regions,
        "cells": cells,
    }
    return templates.TemplateResponse(request, "template_status.html", context)


@api.get("/api/status")
def status_json() -> list[dict[str, Any]]:
    """Every row of the status table (times in ISO 8601, UTC)."""
    return [
        {
            **asdict(row),
            "last_verified_at": row.last_verified_at.isoformat() if row.last_verified_at else None,
            "updated_at": row.updated_at.isoformat(),
        }
        for row in status_rows(data_engine())
    ]


def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503)


def create_app() -> FastAPI:
    """A new template status app."""
    app = FastAPI(title="MECA template replication", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(pages)
    app.include_router(api)
    add_auth_handlers(app)
    app.add_exception_handler(DataDatabaseUnavailable, _unavailable)
    return app


app = create_app()
