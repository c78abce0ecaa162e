"""Find the session VMs of a region that no live booking protects, and destroy them.

A VM (tagged ``meca-session``, or named like a session VM) is protected only by a holding booking of
that region whose end has not passed and whose DAG run is not finished. Everything else is destroyed
with expunge: the session ended, was cancelled, is unknown, was booked elsewhere, or its run ended
early (marked failed, killed) without cleaning up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.sessions.ledger import Booking, get_booking
from meca.sessions.request import when
from meca.sessions.states import CANCELLED
from meca.sessions.tags import session_token, session_vms, tagged_session, vm_token
from meca.sessions.teardown import destroy_vms


@dataclass
class ReapReport:
    """What the reaper did in one region.

    :param region: the region's name.
    :param destroyed: each VM destroyed (its record plus ``session`` and ``reason``).
    :param kept: how many session VMs a live booking protects.
    :param errors: VMs that could not be destroyed (tried again at the next run).
    """

    region: str
    destroyed: list[dict[str, Any]] = field(default_factory=list)
    kept: int = 0
    errors: list[str] = field(default_factory=list)

    def to_xcom(self) -> dict[str, Any]:
        """As JSON for XCom."""
        return {"region": self.region, "destroyed": self.destroyed, "kept": self.kept, "errors": self.errors}


def protected_tokens(
    bookings: Iterable[Booking], region: str, now: datetime, finished_runs: Mapping[str, str]
) -> set[str]:
    """The session tokens whose VMs must stay in ``region``.

    :param bookings: bookings that may be live (at least those ending after ``now``).
    :param region: the region's name.
    :param now: the current time.
    :param finished_runs: session id → state of its DAG run, for the runs already finished.
    """
    return {
        session_token(b.session_id)
        for b in bookings
        if b.holding and b.region == region and b.end > now and b.session_id not in finished_runs
    }


def reason(
    session_id: str | None,
    booking: Booking | None,
    region: str,
    now: datetime,
    finished_runs: Mapping[str, str],
) -> str:
    """Why an unprotected VM goes, in words an operator reads in the log."""
    if session_id is None:
        return "untagged session VM matching no live booking"
    if booking is None:
        return "unknown session (no booking)"
    if booking.state == CANCELLED:
        return f"session cancelled by {booking.changed_by or 'someone'}"
    if booking.end <= now:
        return f"session ended at {when(booking.end)}"
    if booking.region != region:
        return f"session booked in region {booking.region}"
    if session_id in finished_runs:
        return f"its DAG run is {finished_runs[session_id]} before the end"
    return f"session is {booking.state}"


async def reap_region(
    hook: CloudStackAsyncHook,
    engine: Engine,
    *,
    live: Iterable[Booking],
    now: datetime,
    finished_runs: Mapping[str, str],
) -> ReapReport:
    """Destroy every session VM of the hook's region that no live booking protects.

    :param hook: the region.
    :param engine: the MECA data database (to say why each VM goes).
    :param live: the bookings that may protect VMs (accepted, ending after ``now``).
    :param now: the current time.
    :param finished_runs: session id → state of its DAG run, for live bookings whose run is finished.
    """
    region = (await hook.get_region()).name
    keep = protected_tokens(live, region, now, finished_runs)
    report = ReapReport(region)
    doomed: list[dict[str, Any]] = []
    why: dict[str, tuple[str | None, str]] = {}
    for vm in await session_vms(hook):
        if vm_token(vm) in keep:
            report.kept += 1
            continue
        session_id = tagged_session(vm)
        booking = None if session_id is None else get_booking(engine, session_id)
        why[vm["id"]] = (session_id, reason(session_id, booking, region, now, finished_runs))
        doomed.append(vm)
    if doomed:
        destroyed, report.errors = await destroy_vms(hook, doomed)
        for record in destroyed:
            session_id, because = why[record["id"]]
            report.destroyed.append({**record, "session": session_id, "reason": because})
    return report
