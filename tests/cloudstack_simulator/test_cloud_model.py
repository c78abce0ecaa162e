"""The cloud model in-process with a hand-moved clock: job timing, slowdown, housekeeping, determinism."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from cloudstack_simulator.cloud import RegionCloud
from cloudstack_simulator.topology import load_topology_mapping
from tests.cloudstack_simulator.cloud_fixtures import small_topology


class HandClock:
    """A clock that only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 1_760_000_000.0

    def __call__(self) -> float:
        return self.now


def _cloud(clock: HandClock, seed: int = 1) -> RegionCloud:
    [spec] = load_topology_mapping(small_topology()).regions
    return RegionCloud(spec, random.Random(seed), clock=clock)


def _deploy(cloud: RegionCloud, **extra: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        zone = (await cloud.handle("listZones", {}))["zone"][0]["id"]
        offering = (await cloud.handle("listServiceOfferings", {"name": "Small"}))["serviceoffering"][0]["id"]
        template = (await cloud.handle("listTemplates", {"templatefilter": "all"}))["template"][0]["id"]
        params = {"zoneid": zone, "serviceofferingid": offering, "templateid": template, **extra}
        return await cloud.handle("deployVirtualMachine", params)

    return asyncio.run(go())


def _call(cloud: RegionCloud, command: str, **params: str) -> dict[str, Any]:
    return asyncio.run(cloud.handle(command, params))


def test_jobs_finish_when_due_and_slowdown_stretches_them() -> None:
    clock = HandClock()
    cloud = _cloud(clock)
    job = _deploy(cloud)["jobid"]
    clock.now += 0.29  # deploy_s is 0.3
    assert _call(cloud, "queryAsyncJobResult", jobid=job)["jobstatus"] == 0
    clock.now += 0.02
    assert _call(cloud, "queryAsyncJobResult", jobid=job)["jobstatus"] == 1

    cloud.spec.faults.job_slowdown = 10.0
    slow = _deploy(cloud)["jobid"]
    clock.now += 2.9
    assert _call(cloud, "queryAsyncJobResult", jobid=slow)["jobstatus"] == 0
    clock.now += 0.2
    assert _call(cloud, "queryAsyncJobResult", jobid=slow)["jobstatus"] == 1


def test_housekeeping_evicts_old_jobs_and_expunges_old_destroyed_vms() -> None:
    clock = HandClock()
    cloud = _cloud(clock)
    kept_vm = _deploy(cloud)
    doomed = _deploy(cloud)
    clock.now += 1
    destroy = _call(cloud, "destroyVirtualMachine", id=doomed["id"])["jobid"]
    clock.now += 1
    assert cloud.stats()["vms"] == {"Destroyed": 1, "Running": 1}
    cloud.housekeeping()
    assert cloud.stats()["jobs_remembered"] == 3  # younger than job_retention_s (900 s)

    clock.now += 901
    cloud.housekeeping()
    stats = cloud.stats()
    assert stats["jobs_remembered"] == 0
    assert stats["vms"] == {"Running": 1}
    assert _call(cloud, "listVirtualMachines")["virtualmachine"][0]["id"] == kept_vm["id"]
    assert _call(cloud, "listAsyncJobs") == {}
    capacity = {c["name"]: c for c in _call(cloud, "listCapacity")["capacity"]}
    assert capacity["DIRECT_ATTACHED_PUBLIC_IP"]["capacityused"] == 1
    assert destroy not in {j["jobid"] for j in _call(cloud, "listAsyncJobs").get("asyncjobs", [])}


def test_same_seed_same_ids_other_seed_other_ids() -> None:
    first, second, other = _cloud(HandClock()), _cloud(HandClock()), _cloud(HandClock(), seed=2)
    assert _deploy(first) == _deploy(second)
    assert _deploy(first)["id"] != _deploy(other)["id"]
    zones = [_call(c, "listZones")["zone"][0]["id"] for c in (first, second, other)]
    assert zones[0] == zones[1] != zones[2]


def test_shared_network_exhaustion_fails_the_deploy() -> None:
    clock = HandClock()
    cloud = _cloud(clock)
    jobs = [_deploy(cloud, startvm="false")["jobid"] for _ in range(41)]  # 40 shared network IPs
    clock.now += 1
    last = _call(cloud, "queryAsyncJobResult", jobid=jobs[-1])
    assert last["jobstatus"] == 2
    assert last["jobresult"]["errorcode"] == 533
    assert "Insufficient address capacity" in last["jobresult"]["errortext"]
    assert _call(cloud, "queryAsyncJobResult", jobid=jobs[-2])["jobstatus"] == 1
