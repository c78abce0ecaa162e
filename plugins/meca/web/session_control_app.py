"""JSON endpoints to look at, cancel and extend a classroom session, mounted in Airflow's api-server.

Routes (under ``/meca/sessions``): ``GET /api/sessions/<session id>``, ``POST .../cancel`` and
``POST .../extend`` with ``{"end": "<ISO 8601 date-time with zone>"}``. The session id is the
session's DAG run id (URL-encode it). Every route needs an authenticated Airflow user (see
:mod:`meca.web.auth`) allowed by :mod:`meca.web.session_access`: looking at a session needs
``can_read`` on ``MECA Sessions``, cancelling and extending it ``can_edit`` on it, unless the user owns
the session and may trigger runs of ``meca_classroom_session``; else 403. With the SimpleAuthManager
every user may look, ``op`` and ``admin`` may change every session, a ``user`` only their own. The
user's name is recorded on the booking. A refusal answers 409 with the teacher-readable reasons, an
unknown session 404. ``POST`` needs a JSON body (``{}`` for cancel) with ``X-Requested-With: meca``
or a bearer token (:mod:`meca.web.csrf`), else 403 or 415.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from meca.sessions.control import booking_json, cancel_session, extend_session
from meca.sessions.ledger import Booking, BookingNotFound
from meca.sessions.request import BookingRefused
from meca.web.auth import ApiUser as User
from meca.web.auth import add_auth_handlers
from meca.web.csrf import refuse_forgery
from meca.web.database import data_engine
from meca.web.session_access import session_for

URL_PREFIX = "/meca/sessions"
router = APIRouter(prefix="/api/sessions")


class Extension(BaseModel):
    """The body of an extension: the new end, ISO 8601 with its time zone."""

    end: str


@router.get("/{session_id}")
def show(booking: Annotated[Booking, Depends(session_for("GET"))]) -> dict[str, Any]:
    """The session's booking."""
    return booking_json(booking)


@router.post("/{session_id}/cancel", dependencies=[Depends(session_for("PUT"))])
def cancel(session_id: str, user: User) -> dict[str, Any]:
    """Cancel the session; its run tears down within one booking poll (15 s)."""
    return booking_json(cancel_session(data_engine(), session_id, by=user.get_name(), now=datetime.now(UTC)))


@router.post("/{session_id}/extend", dependencies=[Depends(session_for("PUT"))])
def extend(session_id: str, body: Extension, user: User) -> dict[str, Any]:
    """Move the session's end later when its region has room."""
    booking = extend_session(data_engine(), session_id, body.end, by=user.get_name(), now=datetime.now(UTC))
    return booking_json(booking)


def _not_found(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


def _refused(_request: Request, exc: Exception) -> JSONResponse:
    messages = exc.messages if isinstance(exc, BookingRefused) else [str(exc)]
    return JSONResponse({"detail": messages}, status_code=409)


def create_app() -> FastAPI:
    """A new session-control app (routes, authentication and error handlers)."""
    control = FastAPI(
        title="MECA sessions",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(refuse_forgery)],
    )
    control.include_router(router)
    add_auth_handlers(control)
    control.add_exception_handler(BookingNotFound, _not_found)
    control.add_exception_handler(BookingRefused, _refused)
    return control


app = create_app()
