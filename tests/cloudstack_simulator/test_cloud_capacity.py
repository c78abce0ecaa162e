"""Capacity follows the VMs that exist, and placement refuses what does not fit (real simulator over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cs import CloudStack, CloudStackApiException

from cloudstack_simulator.testing import SimulatorHandle, run_simulator
from tests.cloudstack_simulator.cloud_fixtures import capacity, client, ids, small_topology, wait_jobs

GIB = 1024**3


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with run_simulator(small_topology(), tmp_path) as handle:
        yield handle


def test_capacity_moves_with_18_vms_and_back(sim: SimulatorHandle) -> None:
    api = client(sim)
    zone, small, large, template = ids(api)
    before = capacity(api)
    assert before["MEMORY"]["capacitytotal"] == 24 * GIB
    assert before["MEMORY"]["capacityused"] == 0
    assert before["CPU"]["capacitytotal"] == (16 + 8) * 2000
    assert before["CPU_CORE"]["capacitytotal"] == 24
    assert before["PRIVATE_IP"]["capacityused"] == 2 + 2  # two hosts and two system VMs
    assert before["STORAGE_ALLOCATED"]["capacityused"] == 100 * GIB
    assert before["SECONDARY_STORAGE"]["capacityused"] == 850 * 1024**2

    jobs = [
        api.deployVirtualMachine(zoneid=zone, serviceofferingid=small, templateid=template, name=f"vm-{i}")
        for i in range(18)
    ]
    results = wait_jobs(api, [j["jobid"] for j in jobs])
    assert [r["jobstatus"] for r in results] == [1] * 18
    assert {r["jobresult"]["virtualmachine"]["state"] for r in results} == {"Running"}

    after = capacity(api)
    assert after["MEMORY"]["capacityused"] == 18 * GIB
    assert after["MEMORY"]["percentused"] == "75.00"
    assert after["CPU"]["capacityused"] == 18 * 1000
    assert after["CPU_CORE"]["capacityused"] == 18
    assert after["DIRECT_ATTACHED_PUBLIC_IP"]["capacityused"] == 18
    assert after["STORAGE_ALLOCATED"]["capacityused"] == 100 * GIB + 18 * 8 * GIB
    assert after["STORAGE"]["capacityused"] == 100 * GIB + 18 * 850 * 1024**2
    hosts = {h["name"]: h for h in api.listHosts()["host"]}
    assert hosts["solo-h1"]["memoryused"] == 16 * GIB  # first fit fills the first host
    assert hosts["solo-h2"]["memoryused"] == 2 * GIB

    # A Large VM (8 GiB) fits on no host any more: the job fails like CloudStack's planner.
    failed = api.deployVirtualMachine(zoneid=zone, serviceofferingid=large, templateid=template, name="big")
    [body] = wait_jobs(api, [failed["jobid"]])
    assert (body["jobstatus"], body["jobresultcode"]) == (2, 530)
    assert body["jobresult"]["errorcode"] == 533
    assert body["jobresult"]["errortext"].startswith("Unable to create a deployment for VM")
    [vm] = api.listVirtualMachines(id=failed["id"])["virtualmachine"]
    assert vm["state"] == "Error"
    assert capacity(api)["MEMORY"]["capacityused"] == 18 * GIB

    # Stopping releases CPU and memory but keeps the address and the disk.
    first = results[0]["jobresult"]["virtualmachine"]["id"]
    api.stopVirtualMachine(id=first, fetch_result=True)
    stopped = capacity(api)
    assert stopped["MEMORY"]["capacityused"] == 17 * GIB
    assert stopped["CPU"]["capacityused"] == 17 * 1000
    assert stopped["DIRECT_ATTACHED_PUBLIC_IP"]["capacityused"] == 18
    # Expunging gives back the address and the disk.
    api.destroyVirtualMachine(id=first, expunge=True, fetch_result=True)
    gone = capacity(api)
    assert gone["DIRECT_ATTACHED_PUBLIC_IP"]["capacityused"] == 17
    assert gone["STORAGE_ALLOCATED"]["capacityused"] == 100 * GIB + 17 * 8 * GIB


def test_capacity_filters_sorting_and_zone_capacities(sim: SimulatorHandle) -> None:
    api = client(sim)
    rows = api.listCapacity()["capacity"]
    assert [r["type"] for r in rows] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 90]
    assert [r["name"] for r in rows][:2] == ["MEMORY", "CPU"]
    assert all(isinstance(r["percentused"], str) and r["percentused"].count(".") == 1 for r in rows)
    only_cpu = api.listCapacity(type=1)
    assert only_cpu["count"] == 1
    assert only_cpu["capacity"][0]["name"] == "CPU"
    zone = api.listZones(showcapacities=True)["zone"][0]
    assert [c["type"] for c in zone["capacity"]] == [r["type"] for r in rows]
    assert "capacity" not in api.listZones()["zone"][0]
    with pytest.raises(CloudStackApiException) as bad:
        api.listCapacity(zoneid="not-a-uuid")
    assert bad.value.error["errorcode"] == 431
    assert "Invalid parameter zoneid value=not-a-uuid" in bad.value.error["errortext"]


def test_deploy_failure_rate_fails_jobs_with_530(sim: SimulatorHandle) -> None:
    api: CloudStack = client(sim)
    zone, small, _large, template = ids(api)
    sim.control.set_faults("solo", deploy_failure_rate=1.0)
    job = api.deployVirtualMachine(zoneid=zone, serviceofferingid=small, templateid=template)
    [body] = wait_jobs(api, [job["jobid"]])
    assert (body["jobstatus"], body["jobresult"]["errorcode"]) == (2, 530)
    assert capacity(api)["DIRECT_ATTACHED_PUBLIC_IP"]["capacityused"] == 0
    sim.control.set_faults("solo", deploy_failure_rate=0.0)
    vm = api.deployVirtualMachine(
        zoneid=zone, serviceofferingid=small, templateid=template, fetch_result=True
    )
    assert vm["virtualmachine"]["state"] == "Running"
