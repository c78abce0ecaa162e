"""Provisioning against CloudStack's refusals: 533 past the allocation threshold, 431 for a taken name.

Region ``near`` (64 cores of 2 000 MHz, 400 GiB) carries a steady 84 % background load: under the
default 0.85 thresholds 1 280 MHz of CPU are left, room for one Small VM (1 000 MHz, 1 GiB).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from cloudstack_simulator.testing import SimulatorHandle, run_simulator
from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.sessions.provision import (
    CapacityRefused,
    ProvisionReport,
    _deploy,
    provision_session,
    resolve_spec,
)
from meca.sessions.tags import TAG_KEY, session_token, vm_name
from tests.meca.sessions.session_cloud import (
    OFFERING,
    TEMPLATE,
    connect_all,
    raw_api,
    region_topology,
    topology,
    vms_of,
)

POLL_S, TIMEOUT_S = 0.05, 60.0
CPU = "cluster.cpu.allocated.capacity.disablethreshold"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    federation = topology("near")
    federation["regions"] = [region_topology("near", 1, memory_gib=400)]
    federation["background_load"] = {"min_fraction": 0.84, "max_fraction": 0.84, "jitter_fraction": 0.0}
    with run_simulator(federation, tmp_path_factory.mktemp("provision-capacity-sim")) as handle:
        yield handle


@pytest.fixture
def hook(cloud: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudStackAsyncHook]:
    conn_ids = connect_all(cloud, monkeypatch)
    yield CloudStackAsyncHook(cloudstack_conn_id=conn_ids["near"])
    cloud.control.set_configurations("near", **{CPU: 0.85})


def _provision(hook: CloudStackAsyncHook, session_id: str, count: int) -> ProvisionReport:
    async def run() -> ProvisionReport:
        spec = await resolve_spec(hook, template=TEMPLATE, offering=OFFERING)
        return await provision_session(hook, session_id, count, spec, poll_s=POLL_S, timeout_s=TIMEOUT_S)

    return asyncio.run(run())


def _clear(cloud: SimulatorHandle, session: str) -> None:
    api = raw_api(cloud, "near")
    for vm in vms_of(api, session):
        api.destroyVirtualMachine(id=vm["id"], expunge=True, fetch_result=True)


def test_a_region_near_its_threshold_fails_with_a_clear_message_and_no_retry(cloud, hook) -> None:
    session = f"manual__{uuid.uuid4()}"
    with pytest.raises(CapacityRefused) as refused:
        _provision(hook, session, 3)

    message = str(refused.value)
    assert message.startswith(
        f"session {session}: region near has no capacity left under its allocation threshold (85 %) for VM "
    )
    assert "(1 of the 3 VM(s) of this round fit)" in message
    assert "CloudStack answered: Unable to create a deployment for VM[User|" in message
    # One round only: the 3 deploys of the first round, none sent again.
    assert len(cloud.control.deployed_vms("near", name_prefix=f"meca-{session_token(session)}")) == 3
    listed = vms_of(raw_api(cloud, "near"), session)
    assert sorted(vm["state"] for vm in listed) == ["Error", "Error", "Running"]
    _clear(cloud, session)


def test_the_message_gives_the_thresholds_the_region_has(cloud, hook) -> None:
    cloud.control.set_configurations("near", **{CPU: 0.84})
    session = f"manual__{uuid.uuid4()}"
    with pytest.raises(CapacityRefused, match=r"allocation threshold \(CPU 84 %, memory 85 %\) for VM meca-"):
        _provision(hook, session, 1)
    _clear(cloud, session)


def test_a_taken_name_of_the_session_itself_is_counted_not_failed(cloud, hook) -> None:
    cloud.control.set_configurations("near", **{CPU: 1.0})
    session = f"manual__{uuid.uuid4()}"
    api = raw_api(cloud, "near")
    spec = asyncio.run(resolve_spec(hook, template=TEMPLATE, offering=OFFERING))
    first = vm_name(session, 1)
    # A deploy whose answer was lost: the VM exists, untagged, and the retry sends the same name.
    api.deployVirtualMachine(
        zoneid=spec.zone_id,
        templateid=spec.template_id,
        serviceofferingid=spec.offering_id,
        name=first,
        fetch_result=True,
    )
    report = ProvisionReport()
    asyncio.run(
        _deploy(hook, session, [first, vm_name(session, 2)], spec, report, poll_s=POLL_S, timeout_s=TIMEOUT_S)
    )

    assert report.failures == []
    listed = {vm["name"]: vm for vm in vms_of(api, session)}
    assert sorted(listed) == [first, vm_name(session, 2)]
    assert all(vm["tags"] and vm["tags"][0]["key"] == TAG_KEY for vm in listed.values())
    again = _provision(hook, session, 2)
    assert again.deployed == 0
    assert len(vms_of(api, session)) == 2
    _clear(cloud, session)
