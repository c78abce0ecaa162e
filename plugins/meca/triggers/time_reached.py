"""Wait, in the triggerer, until a moment of a session's booking: its start minus the lead time, or its end.

The moment is read again from the booking (MECA data database) at every poll, so an extended session's
end is followed, and a cancelled or unknown booking ends the wait at once. The trigger only reads.
:func:`moment_event` is the decision, shared with the operators that check it before deferring.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.triggers.base import BaseTrigger, TriggerEvent

from meca.sessions.ledger import Booking, get_booking
from meca.store.engine import engine_for_url, url_from_connection

DEFAULT_POLL_S = 15.0
#: The booking's moments: ``holds_from`` is the start minus the lead time, when provisioning begins.
MOMENTS = ("holds_from", "start", "end")


class SessionTimeReachedTrigger(BaseTrigger):
    """Fire when ``booking.<moment> + offset`` has passed, or when the booking is cancelled or gone.

    Events: ``{"status": "reached", "target": iso, "end": iso}``, ``{"status": "cancelled"}`` or
    ``{"status": "unknown"}``.

    :param session_id: the session.
    :param moment: one of :data:`MOMENTS`.
    :param offset_s: seconds added to the moment (negative: before it).
    :param data_conn_id: the Connection of the MECA data database.
    :param poll_s: the longest sleep between two reads of the booking.
    """

    def __init__(
        self,
        session_id: str,
        moment: str,
        offset_s: float = 0.0,
        data_conn_id: str = "meca_data",
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        super().__init__()
        if moment not in MOMENTS:
            raise ValueError(f"moment must be one of {MOMENTS}, got {moment!r}")
        self.session_id = session_id
        self.moment = moment
        self.offset_s = offset_s
        self.data_conn_id = data_conn_id
        self.poll_s = poll_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and keyword arguments."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "session_id": self.session_id,
                "moment": self.moment,
                "offset_s": self.offset_s,
                "data_conn_id": self.data_conn_id,
                "poll_s": self.poll_s,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read the booking, sleep until the target or the next poll, and repeat."""
        while True:
            booking = await read_booking(self.data_conn_id, self.session_id)
            event = moment_event(booking, self.moment, self.offset_s, datetime.now(UTC))
            if event is not None:
                yield TriggerEvent(event)
                return
            if TYPE_CHECKING:
                assert booking is not None  # moment_event has decided an unknown booking
            target = getattr(booking, self.moment) + timedelta(seconds=self.offset_s)
            left = (target - datetime.now(UTC)).total_seconds()
            self.log.info("session %s: %s at %s, %.0f s from now", self.session_id, self.moment, target, left)
            await asyncio.sleep(max(0.0, min(self.poll_s, left)))


def moment_event(
    booking: Booking | None, moment: str, offset_s: float, now: datetime
) -> dict[str, Any] | None:
    """The event that ends a wait for ``booking.<moment> + offset_s`` at ``now``, or ``None`` to wait on.

    :param booking: the session's booking, ``None`` when it has none.
    :param moment: one of :data:`MOMENTS`.
    :param offset_s: seconds added to the moment (negative: before it).
    :param now: the time to decide at (timezone-aware).
    :return: ``{"status": "unknown"}``, ``{"status": "cancelled", "state": ...}`` (the booking no longer
        holds its capacity: cancelled, failed or ended), ``{"status": "reached", "target": iso, "end":
        iso}`` or ``None``.
    """
    if booking is None:
        return {"status": "unknown"}
    if not booking.holding:
        return {"status": "cancelled", "state": booking.state}
    target = getattr(booking, moment) + timedelta(seconds=offset_s)
    if target > now:
        return None
    return {"status": "reached", "target": target.isoformat(), "end": booking.end.isoformat()}


async def read_booking(data_conn_id: str, session_id: str) -> Booking | None:
    """The session's booking (``None`` when unknown), read without blocking the event loop.

    :param data_conn_id: the Connection of the MECA data database.
    :param session_id: the session.
    """
    conn = await BaseHook.aget_connection(data_conn_id)
    engine = engine_for_url(url_from_connection(conn).render_as_string(hide_password=False))
    return await asyncio.to_thread(get_booking, engine, session_id)
