"""Re-placing a session whose region is down at provision time: the ledger move, then for real.

The ledger part runs on SQLite and PostgreSQL with known capacities; the provisioning part against the
simulator, with its ``down`` fault on the booked region.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from cloudstack_simulator.testing import SimulatorHandle, run_simulator
from meca.cloudstack.errors import CloudStackUnreachableError
from meca.regions import Region
from meca.sessions import ledger
from meca.sessions.capacity import OfferingSize, RegionCapacity, RegionChoiceInput
from meca.sessions.config import SessionsConfig
from meca.sessions.replacement import provision_where_reachable, unreachable_reason
from meca.sessions.request import BookingRefused, SessionRequest
from meca.sessions.tags import vm_name
from tests.meca.sessions.session_cloud import OFFERING, TEMPLATE, connect_all, raw_api, topology, vms_of

NOW = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
START = datetime(2030, 1, 8, 9, 0, tzinfo=UTC)
SMALL = OfferingSize.of(OFFERING, cpu_number=1, cpu_speed_mhz=1000, memory_mib=1024)
#: The owners of example.org live in alpha; beta is nearer to alpha than gamma.
CONFIG = SessionsConfig(lead_time=timedelta(minutes=10), home_institutions={"example.org": "alpha"})
LATITUDES = {"alpha": 45.0, "beta": 46.0, "gamma": 50.0}


def facts(name: str, vms: int) -> RegionChoiceInput:
    """A region with room for exactly ``vms`` Small VMs."""
    capacity = RegionCapacity(vms * SMALL.memory_bytes, vms * SMALL.cpu_mhz, NOW, "sweep")
    where = Region(f"cloudstack_{name}", name, 1, name, "", "", LATITUDES[name], 7.0, "#123456")
    return RegionChoiceInput(where, capacity, SMALL, template_ready=True)


def request(region: str = "any", instances: int = 3, start: datetime = START) -> SessionRequest:
    return SessionRequest(
        start=start,
        end=start + timedelta(hours=2),
        title="Lab",
        owner="ann@example.org",
        region=region,
        template=TEMPLATE,
        instances=instances,
        offering=OFFERING,
    )


def reserve(
    engine: Engine, session_id: str, req: SessionRequest, regions: list[RegionChoiceInput]
) -> ledger.Booking:
    return ledger.reserve(engine, req, session_id=session_id, regions=regions, now=NOW, config=CONFIG)


def test_a_move_goes_to_the_best_other_region_with_room(data_engine: Engine) -> None:
    regions = [facts("alpha", 10), facts("beta", 5), facts("gamma", 10)]
    booked = reserve(data_engine, "lab", request(), regions)
    reserve(data_engine, "other", request(region="beta", instances=3), regions)  # beta keeps room for 2
    assert booked.region == "alpha"

    moved = ledger.move(
        data_engine, "lab", regions, reason=unreachable_reason("alpha"), now=NOW, config=CONFIG
    )

    assert moved.region == "gamma"
    assert moved.reasons[0] == "re-placed: alpha unreachable at provision time"
    assert moved.reasons[1].startswith("gamma ranked first of 1 region(s) able to host the session")
    assert ledger.get_booking(data_engine, "lab") == moved
    assert ledger.get_booking(data_engine, "other").region == "beta"
    assert (moved.asked_region, moved.start, moved.end, moved.instances) == ("any", START, booked.end, 3)


def test_a_move_refuses_named_cancelled_and_homeless_sessions(data_engine: Engine) -> None:
    regions = [facts("alpha", 10), facts("beta", 2)]
    reserve(data_engine, "named", request(region="alpha"), regions)
    reserve(data_engine, "cancelled", request(), regions)
    ledger.cancel(data_engine, "cancelled", by="ann@example.org", now=NOW)
    reserve(data_engine, "big", request(instances=5), regions)

    def refusal(session_id: str) -> list[str]:
        with pytest.raises(BookingRefused) as refused:
            ledger.move(data_engine, session_id, regions, reason="r", now=NOW, config=CONFIG)
        return refused.value.messages

    assert refusal("named") == ["The session named was booked in region alpha by name; it stays there."]
    assert refusal("cancelled") == ["The session cancelled is cancelled; it cannot be re-placed."]
    assert refusal("big") == [
        "No region can host 5 VM(s) from 2030-01-08 09:00 UTC to 2030-01-08 11:00 UTC: "
        "beta has room for only 2 VM(s) of 'Small' at that time, and 5 are needed."
    ]
    assert {ledger.get_booking(data_engine, s).region for s in ("named", "cancelled", "big")} == {"alpha"}
    with pytest.raises(ledger.BookingNotFound):
        ledger.move(data_engine, "nope", regions, reason="r", now=NOW, config=CONFIG)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    """alpha and beta with room; gamma with 2 GiB of memory (no room for 3 Small VMs)."""
    spec = topology("alpha", "beta", "gamma")
    small = copy.deepcopy(spec["regions"][2])
    small["zones"][0]["hosts"][0]["memory_gib"] = 2
    spec["regions"][2] = small
    with run_simulator(spec, tmp_path_factory.mktemp("replacement-sim")) as handle:
        yield handle


@pytest.fixture
def alpha_down(cloud: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    connect_all(cloud, monkeypatch)
    cloud.control.set_faults("alpha", down=True)
    try:
        yield
    finally:
        cloud.control.set_faults("alpha", down=False)


def live_request(region: str, instances: int = 3) -> SessionRequest:
    return request(region, instances, start=(datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0))


def test_provisioning_re_places_a_session_of_any_region_when_its_region_is_down(
    cloud: SimulatorHandle, data_engine: Engine, alpha_down: None
) -> None:
    now = datetime.now(UTC)
    booked = reserve(data_engine, "lab-any", live_request("any"), [facts("alpha", 10), facts("beta", 10)])
    assert booked.region == "alpha"

    placed, report = asyncio.run(provision_where_reachable(data_engine, booked, now=now, config=CONFIG))

    assert placed.region == "beta"
    assert placed.reasons[0] == "re-placed: alpha unreachable at provision time"
    assert placed.reasons[1].startswith("beta ranked first of 1 region(s) able to host the session")
    assert ledger.get_booking(data_engine, "lab-any") == placed
    beta = raw_api(cloud, "beta")
    assert sorted(vm["name"] for vm in vms_of(beta, "lab-any")) == [vm_name("lab-any", i) for i in (1, 2, 3)]
    assert sorted(vm["id"] for vm in report.vms) == sorted(vm["id"] for vm in vms_of(beta, "lab-any"))
    for vm in vms_of(beta):
        beta.destroyVirtualMachine(id=vm["id"], expunge=True, fetch_result=True)


def test_a_session_of_a_named_region_is_not_moved_and_nothing_is_created(
    cloud: SimulatorHandle, data_engine: Engine, alpha_down: None
) -> None:
    booked = reserve(data_engine, "lab-alpha", live_request("alpha"), [facts("alpha", 10), facts("beta", 10)])

    with pytest.raises(CloudStackUnreachableError, match="region alpha"):
        asyncio.run(provision_where_reachable(data_engine, booked, now=datetime.now(UTC), config=CONFIG))

    assert ledger.get_booking(data_engine, "lab-alpha") == booked
    assert vms_of(raw_api(cloud, "beta")) == vms_of(raw_api(cloud, "gamma")) == []
