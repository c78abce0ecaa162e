"""The calendar's JSON endpoints: events, a session's VMs, start all and stop all.

Routes (under ``/meca/calendar/api``): ``GET /events?start=&end=`` (FullCalendar's event feed),
``GET /sessions/<id>/vms``, ``POST /sessions/<id>/start`` and ``POST /sessions/<id>/stop`` (a
``running`` session only, else 409). Every
route needs an authenticated Airflow user with ``can_read`` on ``MECA Calendar``. A session's VMs
(``GET``) and starting or stopping them (``PUT``) follow :mod:`meca.web.session_access`: every
session with ``MECA Sessions``, else only one's own, and only with the right to trigger session runs.

The event feed shows every session to a user with ``can_read`` on ``MECA Sessions``. Anyone else
sees their own sessions in full and the others only as anonymous background blocks (time and
region, no id, title or owner), so a teacher sees when a region is busy. Bookings in every state
are shown to whoever may see them in full (refused, cancelled, ended and failed ones each styled
their own way, ``state-<state>``); other people's only while they hold capacity. The booking check
and the booking endpoint are in :mod:`meca.web.bookings_api`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from fastapi import APIRouter, Depends, HTTPException, Query

from meca.regions import DEFAULT_COLOUR, Region, get_region, region_conn_ids
from meca.security.roles import ALL_SESSIONS, CALENDAR
from meca.sessions.ledger import Booking, bookings_between, parts_of
from meca.sessions.states import ACCEPTED, PROVISIONING, RUNNING, STATES
from meca.web.auth import ApiUser, is_authorized, requires_meca
from meca.web.database import data_engine
from meca.web.session_access import owns, session_for

#: The widest window one events request may ask for.
MAX_WINDOW = timedelta(days=400)


class RegistryUnavailable(RuntimeError):
    """The region registry (Variable ``meca_regions`` and the region Connections) cannot be read."""


def registered_regions() -> list[Region]:
    """Every registered region, read from Airflow now.

    :raises RegistryUnavailable: with the reason, when the Variable or a Connection is missing or wrong.
    """
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return [get_region(conn_id) for conn_id in region_conn_ids()]
    except (ValueError, AirflowNotFoundException) as exc:
        raise RegistryUnavailable(f"the region registry cannot be read: {exc}") from None


def text_colour(background: str) -> str:
    """Black or white, whichever reads better on a ``#rgb`` / ``#rrggbb`` background (WCAG luminance)."""
    digits = background.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000000" if luminance > 0.179 else "#ffffff"


def session_path(session_id: str) -> str:
    """The session page's path relative to the calendar page: ``sessions/<url-encoded id>``."""
    return "sessions/" + quote(session_id, safe="")


def event_json(booking: Booking, colours: dict[str, str]) -> dict[str, Any]:
    """A booking as a FullCalendar event, in its region's colour.

    :param booking: the booking.
    :param colours: region name -> CSS colour; a region not in it gets the registry's default colour.
    """
    colour = colours.get(booking.region, DEFAULT_COLOUR)
    return {
        "id": booking.session_id,
        "title": booking.title if booking.holding else f"{booking.title} ({booking.state})",
        "classNames": [f"state-{booking.state}"],
        "start": booking.start.isoformat(),
        "end": booking.end.isoformat(),
        "url": session_path(booking.session_id),
        "backgroundColor": colour,
        "borderColor": colour,
        "textColor": text_colour(colour),
        "extendedProps": {
            "session_id": booking.session_id,
            "owner": booking.owner,
            "region": booking.region,
            "instances": booking.instances,
            "state": booking.state,
            "template": booking.template,
            "offering": booking.offering,
        },
    }


#: The colour of other people's sessions, shown as background blocks.
BUSY_COLOUR = "#9e9e9e"


def busy_json(booking: Booking, colours: dict[str, str]) -> dict[str, Any]:
    """Someone else's booking as an anonymous FullCalendar background event: its time and region only."""
    return {
        "start": booking.start.isoformat(),
        "end": booking.end.isoformat(),
        "display": "background",
        "backgroundColor": colours.get(booking.region, BUSY_COLOUR),
        "extendedProps": {"busy": True, "region": booking.region},
    }


def feed(
    bookings: Iterable[Booking], colours: dict[str, str], user: BaseUser, *, every_session: bool
) -> list[dict[str, Any]]:
    """The events ``user`` is shown: every booking in full, or only their own and the rest as busy blocks.

    :param bookings: the bookings of the window.
    :param colours: region name -> CSS colour.
    :param user: the user asking.
    :param every_session: whether the user may read every session (``can_read`` on ``MECA Sessions``).
    """
    events = []
    for booking in bookings:
        if every_session or owns(user, booking):
            if booking.part == 0:  # a split session is one event (its page lists every part)
                events.append(event_json(booking, colours))
        elif booking.holding:
            events.append(busy_json(booking, colours))
    return events


#: The earliest and latest moments an events window may name.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
#: How much of a wrong window value a refusal quotes.
QUOTE_CHARS = 60


def _quoted(value: str) -> str:
    return repr(value if len(value) <= QUOTE_CHARS else value[:QUOTE_CHARS] + "...")


def _moment(value: str, name: str) -> datetime:
    """``value`` as an aware UTC datetime (UTC without an offset), from :data:`EARLIEST` to :data:`LATEST`.

    :raises HTTPException: 422 saying what is wrong, for anything else (never an overflow's 500).
    """
    out_of_range = f"'{name}' must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}, got {_quoted(value)}"
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError:
        raise HTTPException(
            422, f"'{name}' must be an ISO 8601 date or date-time, got {_quoted(value)}"
        ) from None
    try:
        moment = (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise HTTPException(422, out_of_range) from None
    if not EARLIEST <= moment <= LATEST:
        raise HTTPException(422, out_of_range)
    return moment


router = APIRouter(prefix="/api", dependencies=[Depends(requires_meca(CALENDAR))])


@router.get("/events")
def events(
    user: ApiUser,
    start: str = Query(description="the window's start (ISO 8601), as FullCalendar sends it"),
    end: str = Query(description="the window's end (ISO 8601)"),
) -> list[dict[str, Any]]:
    """The bookings overlapping ``[start, end)``, as FullCalendar events.

    Without ``can_read`` on ``MECA Sessions`` only the user's own are shown in full, the others as
    :func:`busy_json` blocks.
    """
    since, until = _moment(start, "start"), _moment(end, "end")
    if not since < until or until - since > MAX_WINDOW:
        raise HTTPException(
            422,
            f"'end' must be after 'start' and at most {MAX_WINDOW.days} days later "
            f"(got {_quoted(start)} .. {_quoted(end)})",
        )
    colours = {region.name: region.colour for region in registered_regions()}
    bookings = bookings_between(data_engine(), since, until, states=STATES)
    return feed(bookings, colours, user, every_session=is_authorized(user, ALL_SESSIONS))


def _conn_id(region_name: str) -> str:
    for region in registered_regions():
        if region.name == region_name:
            return region.conn_id
    raise RegistryUnavailable(f"the session's region {region_name!r} is no longer registered")


@router.get("/sessions/{session_id}/vms")
async def session_vms_json(
    session_id: str, booking: Annotated[Booking, Depends(session_for("GET"))]
) -> dict[str, Any]:
    """The session's VMs, live from its region(s): name, state, address, template, zone and region."""
    from meca.cloudstack.async_hook import CloudStackAsyncHook
    from meca.sessions.tags import session_vms, vm_record

    parts = await asyncio.to_thread(parts_of, data_engine(), session_id)
    found: list[dict[str, Any]] = []
    for part in parts:  # one part, or each part of a session split across regions
        conn_id = await asyncio.to_thread(_conn_id, part.region)
        vms = await session_vms(CloudStackAsyncHook(cloudstack_conn_id=conn_id), part.session_id)
        found.extend({**vm_record(vm), "region": part.region} for vm in vms)
    return {
        "session_id": session_id,
        "region": booking.region,
        "regions": [part.region for part in parts],
        "vms": sorted(found, key=lambda vm: vm["name"] or ""),
    }


def power_refusal(state: str, action: str) -> str:
    """Why "Start all" or "Stop all" is refused for a session in ``state`` (not ``running``)."""
    verb = "started" if action == "start" else "stopped"
    if state in (ACCEPTED, PROVISIONING):
        return (
            f"The session is {state}: its VMs can be {verb} once it is running "
            "(when every VM is Running; refresh the page to see its state)."
        )
    return f"The session is {state}: it has no VMs to be {verb}."


@router.post("/sessions/{session_id}/{action}")
async def power(
    session_id: str,
    action: Literal["start", "stop"],
    booking: Annotated[Booking, Depends(session_for("PUT"))],
) -> dict[str, Any]:
    """Start every Stopped VM (or stop every Running VM) of the session, all jobs in parallel.

    Only a ``running`` session: while its run still waits for its VMs to be Running (``accepted``,
    ``provisioning``) a stopped VM would fail that wait, the session and its booking; after it there
    is nothing left to move. Else 409, saying so.
    """
    from meca.cloudstack.async_hook import CloudStackAsyncHook
    from meca.sessions.power import power_session

    if booking.state != RUNNING:
        raise HTTPException(409, power_refusal(booking.state, action))

    answer: dict[str, Any] = {"session_id": session_id, "action": action, "changed": [], "left_alone": []}
    answer["errors"] = []
    for part in await asyncio.to_thread(parts_of, data_engine(), session_id):
        conn_id = await asyncio.to_thread(_conn_id, part.region)
        report = await power_session(CloudStackAsyncHook(cloudstack_conn_id=conn_id), part.session_id, action)
        for key in ("changed", "left_alone", "errors"):
            answer[key].extend(getattr(report, key))
    return answer
