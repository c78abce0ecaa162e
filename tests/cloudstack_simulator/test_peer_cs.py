"""The unchanged ``cs`` client (sync and asyncio) against the seed federation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from cs import AIOCloudStack, CloudStack, CloudStackApiException

from cloudstack_simulator.testing import SimulatorHandle, run_simulator

SEED = Path(__file__).resolve().parents[2] / "cloudstack_simulator" / "topologies" / "meca_seed.yaml"
REGION = "MECA-eWorks"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    with run_simulator(SEED, tmp_path_factory.mktemp("peer-cs")) as handle:
        yield handle


def _api(sim: SimulatorHandle, secret: str | None = None, method: str = "get") -> CloudStack:
    region = sim.region(REGION)
    return CloudStack(
        endpoint=region["endpoint"],
        key=region["api_key"],
        secret=secret or region["secret_key"],
        method=method,
        poll_interval=0.2,
        job_timeout=60,
    )


@pytest.mark.parametrize("method", ["get", "post"])
def test_full_vm_lifecycle(sim: SimulatorHandle, method: str) -> None:
    api = _api(sim, method=method)
    zone = api.listZones()["zone"][0]
    assert zone["name"] == "MecaZoneEworks2"
    small = api.listServiceOfferings(name="Small")["serviceoffering"][0]
    template = api.listTemplates(templatefilter="featured", name="CentOS-7-x86-64-Minimal-1708")["template"][
        0
    ]
    session = f"session-{method}"

    vm = api.deployVirtualMachine(
        zoneid=zone["id"],
        serviceofferingid=small["id"],
        templateid=template["id"],
        name=f"demo-{method}",
        displayname="Demo VM",
        fetch_result=True,
    )["virtualmachine"]
    assert (vm["state"], vm["zonename"], vm["templatename"]) == ("Running", zone["name"], template["name"])
    assert (vm["cpunumber"], vm["memory"], vm["displayname"]) == (1, 1024, "Demo VM")

    assert api.createTags(
        resourceids=vm["id"],
        resourcetype="UserVm",
        tags=[{"key": "session", "value": session}, {"key": "course", "value": "cloud 101"}],
        fetch_result=True,
    ) == {"success": True}
    tagged = api.listVirtualMachines(fetch_list=True, tags=[{"key": "session", "value": session}])
    assert [v["id"] for v in tagged] == [vm["id"]]
    assert {t["key"]: t["value"] for t in tagged[0]["tags"]} == {"session": session, "course": "cloud 101"}

    assert api.stopVirtualMachine(id=vm["id"], fetch_result=True)["virtualmachine"]["state"] == "Stopped"
    assert api.startVirtualMachine(id=vm["id"], fetch_result=True)["virtualmachine"]["state"] == "Running"
    gone = api.destroyVirtualMachine(id=vm["id"], expunge=True, fetch_result=True)["virtualmachine"]
    assert gone["state"] == "Expunging"
    assert api.listVirtualMachines(fetch_list=True, tags=[{"key": "session", "value": session}]) == []


def test_errors_surface_with_their_codes(sim: SimulatorHandle) -> None:
    api = _api(sim)
    zone = api.listZones()["zone"][0]["id"]
    with pytest.raises(CloudStackApiException) as missing:
        api.deployVirtualMachine(zoneid=zone)
    assert missing.value.error["errorcode"] == 431
    assert missing.value.error["cserrorcode"] == 9999
    assert missing.value.response.status_code == 431
    with pytest.raises(CloudStackApiException) as denied:
        _api(sim, secret="not-the-secret").listZones()
    assert denied.value.error["errorcode"] == 401
    assert "cserrorcode" not in denied.value.error


def test_failed_job_raises_with_the_job_error(sim: SimulatorHandle) -> None:
    api = _api(sim)
    zone = api.listZones()["zone"][0]["id"]
    large = api.listServiceOfferings(name="Large")["serviceoffering"][0]["id"]
    template = api.listTemplates(templatefilter="featured")["template"][0]["id"]
    sim.control.set_faults(REGION, deploy_failure_rate=1.0)
    try:
        with pytest.raises(CloudStackApiException) as failed:
            api.deployVirtualMachine(
                zoneid=zone, serviceofferingid=large, templateid=template, fetch_result=True
            )
    finally:
        sim.control.set_faults(REGION, deploy_failure_rate=0.0)
    assert failed.value.error["errorcode"] == 530


def test_async_client_one_call(sim: SimulatorHandle) -> None:
    region = sim.region("MECA-PolITO")

    async def zones() -> dict:
        async with AIOCloudStack(
            endpoint=region["endpoint"], key=region["api_key"], secret=region["secret_key"]
        ) as api:
            return await api.listZones()

    answer = asyncio.run(zones())
    assert answer["count"] == 2
    assert [z["name"] for z in answer["zone"]] == ["MecaZonePolito1", "MecaZonePolito2"]


def test_configurations_list_and_update(sim: SimulatorHandle) -> None:
    api = _api(sim, method="post")
    name = "cluster.memory.allocated.capacity.disablethreshold"
    listed = api.listConfigurations(keyword="allocated.capacity.disablethreshold", fetch_list=True)
    assert {c["name"]: c["value"] for c in listed} == {
        "cluster.cpu.allocated.capacity.disablethreshold": "0.85",
        name: "0.85",
    }
    try:
        assert api.updateConfiguration(name=name, value="0.9")["configuration"]["value"] == "0.9"
        assert api.listConfigurations(name=name)["configuration"][0]["value"] == "0.9"
    finally:
        api.updateConfiguration(name=name, value="0.85")
