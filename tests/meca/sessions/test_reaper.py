"""The reaper's rules (which session VMs stay, why the others go) and one region reaped for real."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from cloudstack_simulator.testing import SimulatorHandle, run_simulator
from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.regions import Region
from meca.sessions import ledger
from meca.sessions.capacity import OfferingSize, RegionCapacity, RegionChoiceInput
from meca.sessions.config import SessionsConfig
from meca.sessions.provision import provision_session, resolve_spec
from meca.sessions.reaper import protected_tokens, reap_region, reason
from meca.sessions.request import SessionRequest, when
from meca.sessions.tags import session_token, vm_name
from tests.meca.sessions.session_cloud import OFFERING, TEMPLATE, connect_all, raw_api, topology, vms_of

NOW = datetime.now(UTC).replace(microsecond=0)
SMALL = OfferingSize.of(OFFERING, cpu_number=1, cpu_speed_mhz=1000, memory_mib=1024)
CONFIG = SessionsConfig(lead_time=timedelta(minutes=10))


def facts(name: str) -> RegionChoiceInput:
    room = RegionCapacity(100 * SMALL.memory_bytes, 100 * SMALL.cpu_mhz, NOW, "sweep")
    return RegionChoiceInput(
        Region(f"cloudstack_{name}", name, 1, name, "", "", 45.0, 7.0, "#123456"),
        room,
        SMALL,
        template_ready=True,
    )


def book(engine: Engine, session_id: str, *, region: str = "alpha", start_in: timedelta) -> ledger.Booking:
    """Book 2 VMs in ``region`` for an hour from ``NOW + start_in`` (booked an hour before the start)."""
    start = NOW + start_in
    request = SessionRequest(
        start=start,
        end=start + timedelta(hours=1),
        title=f"lab {session_id}",
        owner="teacher@example.org",
        region=region,
        template=TEMPLATE,
        instances=2,
        offering=OFFERING,
    )
    return ledger.reserve(
        engine,
        request,
        session_id=session_id,
        regions=[facts("alpha"), facts("beta")],
        now=start - timedelta(hours=1),
        config=CONFIG,
    )


@pytest.fixture
def live(data_engine: Engine) -> ledger.Booking:
    """A booking of region alpha that started 5 minutes ago and ends in 55."""
    return book(data_engine, "live", start_in=-timedelta(minutes=5))


def test_only_holding_unfinished_bookings_of_the_region_protect_their_vms(live: ledger.Booking) -> None:
    variants = [
        live,
        dataclasses.replace(live, session_id="provisioning", state="provisioning"),
        dataclasses.replace(live, session_id="running", state="running"),
        dataclasses.replace(live, session_id="failed", state="failed"),
        dataclasses.replace(live, session_id="refused", state="refused"),
        dataclasses.replace(live, session_id="elsewhere", region="beta"),
        dataclasses.replace(live, session_id="cancelled", state=ledger.CANCELLED),
        dataclasses.replace(live, session_id="ended", end=NOW),
        dataclasses.replace(live, session_id="run-failed"),
        dataclasses.replace(live, session_id="run-running"),
    ]

    kept = protected_tokens(variants, "alpha", NOW, {"run-failed": "failed"})

    assert kept == {session_token(s) for s in ("live", "provisioning", "running", "run-running")}
    assert protected_tokens(variants, "beta", NOW, {}) == {session_token("elsewhere")}
    assert protected_tokens(variants, "alpha", live.end, {}) == set()


def test_every_reason_names_what_happened(live: ledger.Booking) -> None:
    cancelled = dataclasses.replace(live, state=ledger.CANCELLED, changed_by="ann@polito.it")

    assert reason(None, None, "alpha", NOW, {}) == "untagged session VM matching no live booking"
    assert reason("ghost", None, "alpha", NOW, {}) == "unknown session (no booking)"
    assert reason("live", cancelled, "alpha", NOW, {}) == "session cancelled by ann@polito.it"
    assert reason("live", dataclasses.replace(cancelled, changed_by=None), "alpha", NOW, {}) == (
        "session cancelled by someone"
    )
    assert reason("live", live, "alpha", live.end, {}) == f"session ended at {when(live.end)}"
    assert reason("live", live, "beta", NOW, {}) == "session booked in region alpha"
    assert reason("live", live, "alpha", NOW, {"live": "failed"}) == "its DAG run is failed before the end"
    assert reason("live", dataclasses.replace(live, state="held"), "alpha", NOW, {}) == "session is held"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    with run_simulator(topology("alpha", "beta"), tmp_path_factory.mktemp("reaper-sim")) as handle:
        yield handle


def test_reaps_a_region_and_says_why(
    cloud: SimulatorHandle, data_engine: Engine, live: ledger.Booking, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_ids = connect_all(cloud, monkeypatch)
    alpha = CloudStackAsyncHook(cloudstack_conn_id=conn_ids["alpha"])
    book(data_engine, "cancelled", start_in=timedelta(minutes=5))
    ledger.cancel(data_engine, "cancelled", by="ann@polito.it", now=NOW)
    book(data_engine, "elsewhere", region="beta", start_in=timedelta(minutes=5))
    book(data_engine, "run-failed", start_in=timedelta(minutes=5))
    api = raw_api(cloud, "alpha")

    async def setup() -> None:
        spec = await resolve_spec(alpha, template=TEMPLATE, offering=OFFERING)
        for session_id, count in [
            ("live", 2),
            ("cancelled", 1),
            ("elsewhere", 1),
            ("run-failed", 1),
            ("ghost", 1),
        ]:
            await provision_session(alpha, session_id, count, spec)
        for name in (vm_name("killed-worker", 1), "not-a-session-vm"):  # untagged
            api.deployVirtualMachine(
                zoneid=spec.zone_id,
                templateid=spec.template_id,
                serviceofferingid=spec.offering_id,
                name=name,
                fetch_result=True,
            )

    asyncio.run(setup())
    live_bookings = ledger.bookings_between(data_engine, NOW, NOW + timedelta(days=1))

    report = asyncio.run(
        reap_region(alpha, data_engine, live=live_bookings, now=NOW, finished_runs={"run-failed": "failed"})
    )

    assert report.region == "alpha"
    assert report.kept == 2
    assert report.errors == []
    assert {vm["session"]: vm["reason"] for vm in report.destroyed} == {
        "cancelled": "session cancelled by ann@polito.it",
        "elsewhere": "session booked in region beta",
        "run-failed": "its DAG run is failed before the end",
        "ghost": "unknown session (no booking)",
        None: "untagged session VM matching no live booking",
    }
    assert sorted(vm["name"] for vm in vms_of(api)) == sorted(
        [vm_name("live", 1), vm_name("live", 2), "not-a-session-vm"]
    )
    assert report.to_xcom() == {
        "region": "alpha",
        "destroyed": report.destroyed,
        "kept": 2,
        "errors": [],
    }
    again = asyncio.run(
        reap_region(alpha, data_engine, live=live_bookings, now=NOW, finished_runs={"run-failed": "failed"})
    )
    assert (again.destroyed, again.kept) == ([], 2)
    for vm in vms_of(api):
        api.destroyVirtualMachine(id=vm["id"], expunge=True, fetch_result=True)
