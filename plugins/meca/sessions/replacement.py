"""Provision a session where it can be: re-place it when its region is down at provision time.

At provision time the session's region is asked for its template and offering first. When it does not
answer and the booking was for "any" region, the booking moves (:func:`meca.sessions.ledger.move`,
capacity checked under the ledger lock) to the best other region that answers and can host it, with
the reason ``re-placed: <region> unreachable at provision time`` recorded first among its reasons;
then the VMs are created there. A session booked for a named region is never moved: its task fails
with the region's error and is retried. The teardown follows the booking's region in the ledger.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import Engine

from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.cloudstack.errors import CloudStackUnreachableError
from meca.regions import get_region, region_conn_ids
from meca.sessions.booking import region_inputs
from meca.sessions.config import SessionsConfig
from meca.sessions.control import region_conn_id
from meca.sessions.ledger import Booking, move
from meca.sessions.provision import ProvisionReport, VmSpec, provision_session, resolve_spec
from meca.sessions.request import ANY_REGION

log = logging.getLogger(__name__)


def unreachable_reason(region: str) -> str:
    """The reason recorded on a booking moved away from ``region``."""
    return f"re-placed: {region} unreachable at provision time"


def replace_unreachable(
    engine: Engine,
    booking: Booking,
    *,
    now: datetime,
    conn_ids: list[str] | None = None,
    config: SessionsConfig | None = None,
) -> Booking:
    """Move a booking of "any" region away from its unreachable region to the best other one.

    :param engine: the MECA data database.
    :param booking: the booking, as the ledger holds it now.
    :param now: the current time.
    :param conn_ids: the region Connections; the ``meca_regions`` Variable when not given.
    :param config: the booking rules (home regions); read from the file when not given.
    :raises BookingRefused: booked for a named region, or no other region can host it.
    """
    others = [
        region
        for region in (get_region(c) for c in (conn_ids if conn_ids is not None else region_conn_ids()))
        if region.name != booking.region
    ]
    inputs = region_inputs(engine, others, template=booking.template, offering=booking.offering)
    moved = move(
        engine, booking.session_id, inputs, reason=unreachable_reason(booking.region), now=now, config=config
    )
    log.warning("Session %s: %s", booking.session_id, "; ".join(moved.reasons))
    return moved


async def provision_where_reachable(
    engine: Engine, booking: Booking, *, now: datetime, config: SessionsConfig | None = None
) -> tuple[Booking, ProvisionReport]:
    """Create the session's VMs in its region, or in the region it is re-placed to when that is down.

    The regions are those of the ``meca_regions`` Variable.

    :param engine: the MECA data database.
    :param booking: the booking, as the ledger holds it now.
    :param now: the current time.
    :param config: the booking rules (home regions); read from the file when not given.
    :returns: the booking (moved or not) and what provisioning did.
    :raises CloudStackUnreachableError: when the region is down and the booking names it.
    :raises BookingRefused: when it is down and no other region can host the session.
    """
    try:
        spec = await _spec(booking)
    except CloudStackUnreachableError:
        if booking.asked_region != ANY_REGION:
            raise
        booking = await asyncio.to_thread(replace_unreachable, engine, booking, now=now, config=config)
        spec = await _spec(booking)
    hook = CloudStackAsyncHook(cloudstack_conn_id=region_conn_id(booking.region))
    return booking, await provision_session(hook, booking.session_id, booking.instances, spec)


async def _spec(booking: Booking) -> VmSpec:
    hook = CloudStackAsyncHook(cloudstack_conn_id=region_conn_id(booking.region))
    return await resolve_spec(hook, template=booking.template, offering=booking.offering)
