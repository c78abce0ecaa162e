"""JSON endpoints to look at, cancel and extend a classroom session, mounted in Airflow's api-server.

Routes (under ``/meca/sessions``): ``GET /api/sessions/<session id>``, ``POST .../cancel`` and
``POST .../extend`` with ``{"end": "<ISO 8601 date-time with zone>"}``. The session id is the
session's DAG run id (URL-encode it). Every route needs an authenticated Airflow user (see
:mod:`meca.web.auth`); cancel and extend also need the right to edit the runs of
``meca_classroom_session`` (as marking a run failed does), else 403: with the SimpleAuthManager a
``viewer`` may look but not change. The user's name is recorded on the booking. A refusal answers 409
with the teacher-readable reasons, an unknown session 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from meca.sessions.control import booking_json, cancel_session, extend_session
from meca.sessions.ledger import BookingNotFound, get_booking
from meca.sessions.request import BookingRefused
from meca.web.auth import ApiUser as User
from meca.web.auth import NotAuthenticated, may_edit_session_runs, not_authenticated_handler
from meca.web.database import data_engine

URL_PREFIX = "/meca/sessions"
router = APIRouter(prefix="/api/sessions")


class Extension(BaseModel):
    """The body of an extension: the new end, ISO 8601 with its time zone."""

    end: str


@router.get("/{session_id}")
def show(session_id: str, _user: User) -> dict[str, Any]:
    """The session's booking."""
    booking = get_booking(data_engine(), session_id)
    if booking is None:
        raise BookingNotFound(f"no booking has session id {session_id!r}")
    return booking_json(booking)


@router.post("/{session_id}/cancel", dependencies=[Depends(may_edit_session_runs)])
def cancel(session_id: str, user: User) -> dict[str, Any]:
    """Cancel the session; its run tears down within one booking poll (15 s)."""
    return booking_json(cancel_session(data_engine(), session_id, by=user.get_name(), now=datetime.now(UTC)))


@router.post("/{session_id}/extend", dependencies=[Depends(may_edit_session_runs)])
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
    control = FastAPI(title="MECA sessions", docs_url=None, redoc_url=None, openapi_url=None)
    control.include_router(router)
    control.add_exception_handler(NotAuthenticated, not_authenticated_handler)  # type: ignore[arg-type]
    control.add_exception_handler(BookingNotFound, _not_found)
    control.add_exception_handler(BookingRefused, _refused)
    return control


app = create_app()
