"""What the bookings of a region hold over time, and the peak of it within a window.

The ledger reads the holds of the live bookings once (:func:`read_holds`) and answers every window
from memory, so the booking decision can try many slots and regions for its alternatives without a
query per try.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from meca.sessions.states import HOLDING, RUNNING
from meca.store.models import SessionBooking


@dataclass(frozen=True)
class Hold:
    """Memory (bytes) and CPU (MHz) one booking holds in its region from ``since`` to ``until``.

    :param running_since: when all its VMs were Running (``None`` before): from then on the region's
        own used figures include them.
    """

    session_id: str
    region: str
    since: datetime
    until: datetime
    memory_bytes: int
    cpu_mhz: int
    running_since: datetime | None = None


def read_holds(
    connection: Connection,
    since: datetime,
    until: datetime,
    *,
    regions: Sequence[str] | None = None,
) -> list[Hold]:
    """The holds of the holding bookings overlapping ``[since, until)`` in ``regions`` (``None``: all)."""
    query = select(
        SessionBooking.session_id,
        SessionBooking.region,
        SessionBooking.holds_from,
        SessionBooking.ends_at,
        SessionBooking.instances * SessionBooking.vm_memory_bytes,
        SessionBooking.instances * SessionBooking.vm_cpu_mhz,
        SessionBooking.running_since,
        SessionBooking.state,
    ).where(
        SessionBooking.state.in_(HOLDING),
        SessionBooking.holds_from < until,
        SessionBooking.ends_at > since,
    )
    if regions is not None:
        query = query.where(SessionBooking.region.in_(list(regions)))
    return [
        Hold(
            session_id,
            region,
            holds_from,
            ends_at,
            int(memory),
            int(cpu),
            running_since if state == RUNNING else None,
        )
        for session_id, region, holds_from, ends_at, memory, cpu, running_since, state in connection.execute(
            query
        )
    ]


def peak(
    holds: Iterable[Hold], region: str, since: datetime, until: datetime, *, exclude: str | None = None
) -> tuple[int, int]:
    """The peak memory and CPU the holds of ``region`` take within ``[since, until)``.

    :param exclude: a session whose hold is left out (the one being extended or moved).
    """
    events: list[tuple[datetime, int, int]] = []
    for hold in holds:
        if hold.region != region or hold.session_id == exclude:
            continue
        if hold.since >= until or hold.until <= since:
            continue
        events.append((max(hold.since, since), hold.memory_bytes, hold.cpu_mhz))
        events.append((min(hold.until, until), -hold.memory_bytes, -hold.cpu_mhz))
    # At equal times releases (negative) come first: back-to-back bookings do not add up.
    events.sort(key=lambda event: (event[0], event[1]))
    memory_now = cpu_now = memory_peak = cpu_peak = 0
    for _, memory, cpu in events:
        memory_now += memory
        cpu_now += cpu
        memory_peak = max(memory_peak, memory_now)
        cpu_peak = max(cpu_peak, cpu_now)
    return memory_peak, cpu_peak


def measured_running(holds: Iterable[Hold], region: str, measured_at: datetime) -> tuple[int, int]:
    """The memory and CPU of the sessions whose VMs were all Running when ``region`` was measured.

    The region's used figures at ``measured_at`` include those VMs; their bookings hold them too.
    Adding them back to the measured free capacity counts them once.
    """
    memory = cpu = 0
    for hold in holds:
        if hold.region != region or hold.running_since is None:
            continue
        if hold.running_since <= measured_at < hold.until:
            memory += hold.memory_bytes
            cpu += hold.cpu_mhz
    return memory, cpu
