"""Cancel or extend a session while it is booked or running, and describe it as JSON.

Neither touches Airflow: the session's DAG run reads its booking at every poll of its waits
(:mod:`meca.triggers.time_reached`). A cancellation before the start makes the run skip to its
teardown; during the session it ends the wait for the end, so the VMs are torn down at once. An
extension moves the end the running wait follows. The reaper (``meca_session_reaper``) destroys
the VMs of a cancelled session even when its run is gone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from meca.regions import get_region, region_conn_ids
from meca.sessions.capacity import RegionCapacity
from meca.sessions.ledger import Booking, cancel, extend
from meca.sessions.request import BookingRefused

#: The DAG whose runs are the sessions.
SESSION_DAG_ID = "meca_classroom_session"


def region_conn_id(region_name: str) -> str:
    """The Connection id of the registered region called ``region_name``.

    :raises LookupError: naming the registered regions when there is none of that name.
    """
    conn_ids = region_conn_ids()
    for conn_id in conn_ids:
        if get_region(conn_id).name == region_name:
            return conn_id
    raise LookupError(f"no registered region is called {region_name!r} (registered: {', '.join(conn_ids)})")


def cancel_session(engine: Engine, session_id: str, *, by: str, now: datetime) -> Booking:
    """Cancel a session now, before or during it; its run tears down within one poll interval.

    :param engine: the MECA data database.
    :param session_id: the session (its DAG run id).
    :param by: who cancels it (recorded).
    :param now: the current time.
    :raises meca.sessions.ledger.BookingNotFound: for an unknown session.
    :raises BookingRefused: when it has already ended.
    """
    return cancel(engine, session_id, by=by, now=now)


def extend_session(
    engine: Engine,
    session_id: str,
    new_end: str | datetime,
    *,
    by: str,
    now: datetime,
    capacity: RegionCapacity | None = None,
) -> Booking:
    """Move the end of a booked or running session later, when its region has room until then.

    :param engine: the MECA data database.
    :param session_id: the session (its DAG run id).
    :param new_end: the new end, a datetime or ISO 8601 text, with its time zone.
    :param by: who extends it (recorded).
    :param now: the current time.
    :param capacity: the region's free capacity; the latest sweep's when not given.
    :raises meca.sessions.ledger.BookingNotFound: for an unknown session.
    :raises BookingRefused: a bad date, a cancelled or ended session, or no room.
    """
    if isinstance(new_end, str):
        try:
            new_end = datetime.fromisoformat(new_end.strip())
        except ValueError:
            raise BookingRefused(
                [f"The new end {new_end!r} is not a date and time like 2025-03-04T11:00:00+01:00."]
            ) from None
    if new_end.utcoffset() is None:
        raise BookingRefused(
            [f"The new end {new_end.isoformat()} has no time zone: add it, e.g. +01:00 or Z."]
        )
    return extend(engine, session_id, new_end, by=by, now=now, capacity=capacity)


def booking_json(booking: Booking) -> dict[str, Any]:
    """A booking as JSON (times in ISO 8601 UTC)."""
    return {
        "session_id": booking.session_id,
        "state": booking.state,
        "region": booking.region,
        "asked_region": booking.asked_region,
        "reasons": list(booking.reasons),
        "start": booking.start.isoformat(),
        "end": booking.end.isoformat(),
        "provision_from": booking.holds_from.isoformat(),
        "title": booking.title,
        "owner": booking.owner,
        "template": booking.template,
        "offering": booking.offering,
        "instances": booking.instances,
        "comments": booking.comments,
        "changed_by": booking.changed_by,
        "holding": booking.holding,
        "running_since": None if booking.running_since is None else booking.running_since.isoformat(),
        "alternatives": list(booking.alternatives),
    }
