"""Booking before any run exists: the calendar's check and the booking endpoint for API clients.

Routes (under ``/meca/calendar/api``, JSON bodies, guarded against forgery by
:mod:`meca.web.csrf`):

- ``POST /check`` with a session conf: the decision the run's ``reserve`` would make now, nothing
  written. ``200 {"ok": true, "conf", "region", "reasons"}``, or ``422 {"detail": [every problem],
  "alternatives": [...]}``.
- ``POST /bookings`` with a session conf: the same decision, then the booking in the ledger (under
  its lock: ``reserve``'s own rules) and the session's DAG run, with a readable run id and the note
  "title · owner". ``201`` with the booking, ``422`` with the problems and alternatives (nothing is
  created), ``409`` when the session DAG is paused, ``403`` without the right to trigger it.

The rules are :func:`meca.sessions.booking.decide_conf`'s: times, limits, text, region, template
Ready, offering, capacity from the latest sweep under the regions' thresholds minus overlapping
bookings, and the owner is the caller unless the caller holds ``MECA Sessions`` (an Operator).
Each alternative is a complete conf: posting it to ``/bookings`` books it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from meca.security.roles import ALL_SESSIONS, CALENDAR
from meca.sessions.booking import decide_conf
from meca.sessions.control import booking_json
from meca.sessions.ledger import cancel, reserve
from meca.sessions.request import BookingRefused
from meca.web.auth import ApiUser, NotAuthorized, is_authorized, requires_meca
from meca.web.calendar_api import session_path
from meca.web.database import data_engine
from meca.web.session_access import may_trigger_sessions, user_identities
from meca.web.session_runs import (
    SessionDagUnavailable,
    new_session_id,
    run_note,
    session_dag_paused,
    trigger_session_run,
)

router = APIRouter(prefix="/api", dependencies=[Depends(requires_meca(CALENDAR))])

#: What a teacher is told when the session DAG is paused.
PAUSED = (
    "Bookings are on hold: the DAG meca_classroom_session is paused in Airflow, so no session would "
    "start. Ask an operator to unpause it."
)


def own_names(user: BaseUser) -> frozenset[str] | None:
    """The names ``user`` may book under; ``None`` for whoever may change every session (Operators)."""
    return None if is_authorized(user, ALL_SESSIONS, "PUT") else user_identities(user)


def refusal_json(refused: BookingRefused) -> JSONResponse:
    """A refusal as ``422 {"detail": [...], "alternatives": [...]}``."""
    return JSONResponse({"detail": refused.messages, "alternatives": refused.alternatives}, status_code=422)


@router.post("/check", response_model=None)
def check(conf: dict[str, Any], user: ApiUser) -> dict[str, Any] | JSONResponse:
    """The booking decision for ``conf`` now, with every problem and the alternatives; nothing is booked."""
    _, decision, _ = decide_conf(data_engine(), conf, now=datetime.now(UTC), own_names=own_names(user))
    if decision.placement is None:
        return refusal_json(decision.refusal())
    return {
        "ok": True,
        "conf": conf,
        "region": decision.placement.region,
        "reasons": decision.placement.reasons,
        "paused": bool(session_dag_paused()),
    }


@router.post("/bookings", status_code=201, response_model=None)
def create_booking(conf: dict[str, Any], request: Request, user: ApiUser) -> dict[str, Any] | JSONResponse:
    """Decide, book and start the session's run; nothing is created when it is refused."""
    if not may_trigger_sessions(request, user):
        raise NotAuthorized(
            f"user {user.get_name()!r} may not trigger runs of meca_classroom_session, which booking needs",
            page=False,
        )
    paused = session_dag_paused()
    if paused is None:
        raise SessionDagUnavailable("the session DAG is not known to Airflow yet: try again in a minute")
    if paused:
        return JSONResponse({"detail": [PAUSED]}, status_code=409)
    engine = data_engine()
    now = datetime.now(UTC)
    checked, decision, facts = decide_conf(engine, conf, now=now, own_names=own_names(user))
    if decision.placement is None or checked is None:
        return refusal_json(decision.refusal())
    session_id = new_session_id(checked)
    try:
        booking = reserve(engine, checked, session_id=session_id, regions=facts, now=now)
    except BookingRefused as refused:  # another booking took the room since the decision
        return refusal_json(refused)
    try:
        trigger_session_run(session_id, checked.to_conf(), user=user.get_name(), note=run_note(checked))
    except SessionDagUnavailable:
        cancel(engine, session_id, by="meca (its run could not be created)", now=datetime.now(UTC))
        raise
    return {**booking_json(booking), "run_id": session_id, "session_page": session_path(session_id)}
