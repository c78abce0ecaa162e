"""The teachers' calendar, a FastAPI app mounted by :class:`meca.plugin.MecaPlugin` at ``/meca/calendar``.

Pages: ``/`` the calendar (month, week and day views of the booked sessions, one colour per region
with a legend, and the booking form) and ``/sessions/<id>`` one session (its booking, its VMs live
from the region, "Start all" and "Stop all"). The JSON endpoints are in :mod:`meca.web.calendar_api`,
the browser code in ``static/calendar.js`` and ``static/session.js`` with FullCalendar's standard
bundle (``static/vendor/fullcalendar``, v6.1.21, MIT).

A booking is made the way every other booking is: the form first asks ``api/check`` (the same checks
as the DAG's first task, each problem shown to the teacher), then the browser itself triggers a run
of ``meca_classroom_session`` with Airflow's REST API (``POST /api/v2/dags/.../dagRuns``, sent with
the ``_token`` cookie of the Airflow login), so Airflow's permission checks apply to the teacher.
Every page, endpoint and static file needs an authenticated Airflow user with ``can_read`` on ``MECA
Calendar`` (:mod:`meca.web.auth`); a session's page, its VMs, "Start all" and "Stop all" also follow
the ownership rule of :mod:`meca.web.session_access`. Every ``POST`` goes through
:func:`meca.web.csrf.refuse_forgery` (a JSON body and ``X-Requested-With: meca`` or a bearer token).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from meca.cloudstack.errors import CloudStackError
from meca.regions import DEFAULT_COLOUR
from meca.security.roles import CALENDAR
from meca.sessions.config import load_config
from meca.sessions.control import SESSION_DAG_ID as DAG_ID
from meca.sessions.control import booking_json
from meca.sessions.ledger import Booking, BookingNotFound
from meca.sessions.request import ANY_REGION, BookingRefused
from meca.web import bookings_api, calendar_api
from meca.web.auth import add_auth_handlers, requires_meca
from meca.web.calendar_api import RegistryUnavailable, registered_regions, text_colour
from meca.web.csrf import refuse_forgery
from meca.web.database import DataDatabaseUnavailable
from meca.web.session_access import session_for
from meca.web.session_runs import SessionDagUnavailable, session_dag_paused

URL_PREFIX = "/meca/calendar"
STATIC = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters.update(text_colour=text_colour)

pages = APIRouter(dependencies=[Depends(requires_meca(CALENDAR, page=True))])
static = APIRouter(dependencies=[Depends(requires_meca(CALENDAR))])


def airflow_root(request: Request) -> str:
    """The path of Airflow's own root (``/`` unless Airflow is served under a sub-path)."""
    mount = str(request.scope.get("root_path", ""))
    return mount.removesuffix(URL_PREFIX) + "/"


@pages.get("/", response_class=HTMLResponse)
def calendar_page(request: Request) -> HTMLResponse:
    """The calendar, the legend of regions and the booking form."""
    rules = load_config()
    context: dict[str, Any] = {
        "title": "Classroom sessions",
        "root": "",
        "regions": registered_regions(),
        "any_region": ANY_REGION,
        "max_instances": rules.max_instances,
        "max_recurrence_weeks": rules.max_recurrence_weeks,
        "paused": session_dag_paused(),
        "settings": {"airflowRoot": airflow_root(request), "dagId": DAG_ID},
    }
    return templates.TemplateResponse(request, "calendar.html", context)


@pages.get("/sessions/{session_id}", response_class=HTMLResponse)
def session_page(
    request: Request, session_id: str, booking: Annotated[Booking, Depends(session_for("GET", page=True))]
) -> HTMLResponse:
    """One session: its booking and placement, its VMs (loaded live by the page), start and stop all."""
    colours = {region.name: region.colour for region in registered_regions()}
    context: dict[str, Any] = {
        "title": booking.title,
        "root": "../",
        "booking": booking_json(booking),
        "colour": colours.get(booking.region, DEFAULT_COLOUR),
        "settings": {"airflowRoot": airflow_root(request), "dagId": DAG_ID, "sessionId": session_id},
    }
    return templates.TemplateResponse(request, "calendar_session.html", context)


@static.get("/static/{name:path}")
def static_file(name: str) -> FileResponse:
    """A file of ``static/`` (the page scripts, styles and the FullCalendar bundle)."""
    path = (STATIC / name).resolve()
    if not path.is_relative_to(STATIC.resolve()) or not path.is_file():
        raise HTTPException(404, f"no static file {name!r}")
    return FileResponse(path)


#: The status each error is answered with (as ``{"detail": <message>}``).
ERROR_STATUS: dict[type[Exception], int] = {
    BookingNotFound: 404,
    CloudStackError: 502,
    RegistryUnavailable: 503,
    DataDatabaseUnavailable: 503,
    SessionDagUnavailable: 503,
}


def _refused(_request: Request, exc: Exception) -> JSONResponse:
    messages = exc.messages if isinstance(exc, BookingRefused) else [str(exc)]
    return JSONResponse({"detail": messages}, status_code=422)


def _error(_request: Request, exc: Exception) -> JSONResponse:
    status = next(code for kind, code in ERROR_STATUS.items() if isinstance(exc, kind))
    return JSONResponse({"detail": str(exc)}, status_code=status)


def create_app() -> FastAPI:
    """A new calendar app (pages, JSON endpoints, static files, authentication and error handlers)."""
    app = FastAPI(
        title="MECA calendar",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(refuse_forgery)],
    )
    app.include_router(pages)
    app.include_router(calendar_api.router)
    app.include_router(bookings_api.router)
    app.include_router(static)
    add_auth_handlers(app)
    app.add_exception_handler(BookingRefused, _refused)
    for error in ERROR_STATUS:
        app.add_exception_handler(error, _error)
    return app


app = create_app()
