"""A session split across regions: provision, tear down and check every part, each in its region.

A split session is one booking per part (:func:`meca.sessions.ledger.parts_of`): the session's own id
for the first part, ``<id>.part<k>`` for the others. Each part's VMs are tagged and named by its own
id, in its own region, so the reaper and the checks treat each part as they treat a whole session.
All parts are worked on at once (one asyncio task per part); a session that is not split has one part.
"""

from __future__ import annotations

import asyncio
from typing import Any

from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.sessions.control import region_conn_id
from meca.sessions.ledger import Booking
from meca.sessions.provision import ProvisionReport, provision_session, resolve_spec
from meca.sessions.teardown import TeardownReport, assert_clean, teardown_session


def _hook(part: Booking) -> CloudStackAsyncHook:
    return CloudStackAsyncHook(cloudstack_conn_id=region_conn_id(part.region))


def targets(parts: list[Booking]) -> list[dict[str, Any]]:
    """What to wait for: each part's Connection, booking id and VM count (see ``WaitForSessionVms``)."""
    return [
        {"conn_id": region_conn_id(part.region), "session_id": part.session_id, "count": part.instances}
        for part in parts
    ]


async def provision_parts(parts: list[Booking]) -> ProvisionReport:
    """Create the missing VMs of every part in its region, all parts at once; one report for all."""

    async def one(part: Booking) -> ProvisionReport:
        hook = _hook(part)
        spec = await resolve_spec(hook, template=part.template, offering=part.offering)
        return await provision_session(hook, part.session_id, part.instances, spec)

    reports = await asyncio.gather(*(one(part) for part in parts))
    merged = ProvisionReport()
    for part, report in zip(parts, reports, strict=True):
        merged.vms.extend({**vm, "region": part.region} for vm in report.vms)
        merged.deployed += report.deployed
        merged.failures.extend(report.failures)
        merged.removed.extend(report.removed)
    return merged


async def teardown_parts(parts: list[Booking]) -> TeardownReport:
    """Destroy with expunge every VM of every part in its region, all parts at once."""
    reports = await asyncio.gather(*(teardown_session(_hook(part), part.session_id) for part in parts))
    merged = TeardownReport()
    for part, report in zip(parts, reports, strict=True):
        merged.destroyed.extend({**vm, "region": part.region} for vm in report.destroyed)
        merged.errors.extend(f"{part.region}: {error}" for error in report.errors)
    return merged


async def assert_parts_clean(parts: list[Booking]) -> None:
    """Fail when any part has a VM left in its region (:class:`~meca.sessions.teardown.SessionNotClean`)."""
    await asyncio.gather(*(assert_clean(_hook(part), part.session_id) for part in parts))
