"""CloudStack's allocation thresholds and unique host names, against the real simulator over HTTP.

The small topology has one zone of 24 GiB and 48 000 MHz; Large is 8 GiB and 4 000 MHz, Small
1 GiB and 1 000 MHz. At the default 0.85, the zone accepts allocations up to 20.4 GiB and 40 800 MHz.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cs import CloudStackApiException

from cloudstack_simulator.control import SimulatorControlError
from cloudstack_simulator.testing import SimulatorHandle
from cloudstack_simulator.topology import load_topology_mapping
from tests.cloudstack_simulator.cloud_fixtures import capacity, client, ids, small_topology, wait_jobs

CPU = "cluster.cpu.allocated.capacity.disablethreshold"
MEMORY = "cluster.memory.allocated.capacity.disablethreshold"
Factory = Callable[[dict[str, Any]], SimulatorHandle]


def _topology(**extra: Any) -> dict[str, Any]:
    topology = small_topology()
    topology.update(extra)
    return topology


def test_list_configurations_answers_like_cloudstack(simulator_factory: Factory) -> None:
    api = client(simulator_factory(_topology()))
    answer = api.listConfigurations(name=CPU)
    assert answer["count"] == 1
    [item] = answer["configuration"]
    assert item["name"] == CPU
    assert (item["value"], item["defaultvalue"], item["category"]) == ("0.85", "0.85", "Alert")
    assert (item["isdynamic"], item["scope"], item["type"]) == (True, "cluster", "Float")
    assert item["description"].startswith("Percentage (as a value between 0 and 1) of cpu utilization")

    both = api.listConfigurations(keyword="disablethreshold")
    assert [c["name"] for c in both["configuration"]] == [CPU, MEMORY]
    page = api.listConfigurations(keyword="allocated.capacity", page=2, pagesize=3)
    assert page["count"] == 4
    assert len(page["configuration"]) == 1
    assert api.listConfigurations(name="no.such.setting") == {}
    assert {c["name"] for c in api.listConfigurations(category="alert")["configuration"]} >= {CPU, MEMORY}


def test_update_configuration_and_its_refusals(simulator_factory: Factory) -> None:
    api = client(simulator_factory(_topology()))
    updated = api.updateConfiguration(name=MEMORY, value="0.9")["configuration"]
    assert (updated["name"], updated["value"]) == (MEMORY, "0.9")
    assert api.listConfigurations(name=MEMORY)["configuration"][0]["value"] == "0.9"
    for name, value, text in [
        (MEMORY, "1.5", f"Please enter a value between 0 and 1 for the configuration parameter: {MEMORY}"),
        ("no.such.setting", "1", "Config parameter with name no.such.setting doesn't exist"),
    ]:
        with pytest.raises(CloudStackApiException) as refused:
            api.updateConfiguration(name=name, value=value)
        assert refused.value.error["errorcode"] == 431
        assert refused.value.error["cserrorcode"] == 4350
        assert refused.value.error["errortext"] == text
    assert api.listConfigurations(name=MEMORY)["configuration"][0]["value"] == "0.9"


def test_thresholds_per_region_from_the_topology_and_the_admin_api(simulator_factory: Factory) -> None:
    topology = _topology(configurations={CPU: 0.9})
    topology["regions"][0]["configurations"] = {MEMORY: 0.8}
    sim = simulator_factory(topology)
    api = client(sim)
    values = {
        c["name"]: c["value"] for c in api.listConfigurations(keyword="disablethreshold")["configuration"]
    }
    assert values == {CPU: "0.9", MEMORY: "0.8"}
    view = sim.control.set_configurations("solo", **{CPU: 1.0})
    assert view["configurations"][CPU] == "1.0"
    assert api.listConfigurations(name=CPU)["configuration"][0]["value"] == "1.0"
    with pytest.raises(SimulatorControlError, match="between 0 and 1"):
        sim.control.set_configurations("solo", **{CPU: 2, MEMORY: 0.5})
    assert sim.control.region("solo")["configurations"][MEMORY] == "0.8"  # all or nothing


@pytest.mark.parametrize(
    ("configurations", "message"),
    [
        ({"no.such": 1}, "region 'solo': configurations: unknown configuration(s) ['no.such']"),
        ({CPU: -0.1}, f"region 'solo': configurations: Please enter a value between 0 and 1 .*{CPU}"),
        ({CPU: "lots"}, f"region 'solo': configurations: Configuration parameter {CPU} must be a Float"),
    ],
)
def test_bad_configurations_in_the_topology_are_refused(configurations: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_topology_mapping(_topology(configurations=configurations))


def test_deploy_past_the_memory_threshold_fails_with_533(simulator_factory: Factory) -> None:
    sim = simulator_factory(_topology())
    api = client(sim)
    zone, _small, large, template = ids(api)
    jobs = [
        api.deployVirtualMachine(zoneid=zone, serviceofferingid=large, templateid=template, name=f"big-{i}")
        for i in range(3)
    ]
    first, second, third = wait_jobs(api, [j["jobid"] for j in jobs])
    assert (first["jobstatus"], second["jobstatus"]) == (1, 1)  # 16 GiB: 67 %
    # 24 GiB would be 100 %: the hosts have room (8 GiB left on solo-h2), the threshold refuses it.
    assert (third["jobstatus"], third["jobresultcode"]) == (2, 530)
    assert third["jobresult"]["errorcode"] == 533
    assert third["jobresult"]["errortext"].startswith("Unable to create a deployment for VM[User|i-2-")
    [vm] = api.listVirtualMachines(id=jobs[2]["id"])["virtualmachine"]
    assert vm["state"] == "Error"
    assert capacity(api)["MEMORY"]["capacityused"] == 16 * 1024**3

    sim.control.set_configurations("solo", **{MEMORY: 1.0})
    again = api.deployVirtualMachine(zoneid=zone, serviceofferingid=large, templateid=template, name="big-3")
    [done] = wait_jobs(api, [again["jobid"]])
    assert done["jobstatus"] == 1
    assert done["jobresult"]["virtualmachine"]["hostname"] == "solo-h2"


def test_a_zone_at_84_percent_takes_no_vm_past_85(simulator_factory: Factory) -> None:
    load = {"min_fraction": 0.84, "max_fraction": 0.84, "jitter_fraction": 0}
    sim = simulator_factory(_topology(background_load=load))
    api = client(sim)
    zone, small, _large, template = ids(api)
    assert capacity(api)["MEMORY"]["percentused"] == "84.00"
    vm = api.deployVirtualMachine(zoneid=zone, serviceofferingid=small, templateid=template, name="one")
    [refused] = wait_jobs(api, [vm["jobid"]])
    assert (refused["jobstatus"], refused["jobresult"]["errorcode"]) == (2, 533)

    api.updateConfiguration(name=CPU, value="0.9")
    api.updateConfiguration(name=MEMORY, value="0.9")
    vm = api.deployVirtualMachine(zoneid=zone, serviceofferingid=small, templateid=template, name="two")
    [placed] = wait_jobs(api, [vm["jobid"]])
    assert placed["jobstatus"] == 1


def test_the_background_load_stays_under_the_thresholds(simulator_factory: Factory) -> None:
    load = {"min_fraction": 0.95, "max_fraction": 0.95, "jitter_fraction": 0}
    sim = simulator_factory(_topology(background_load=load))
    api = client(sim)
    rows = capacity(api)
    assert (rows["MEMORY"]["percentused"], rows["CPU"]["percentused"]) == ("85.00", "85.00")
    sim.control.set_configurations("solo", **{CPU: 1.0, MEMORY: 1.0})
    rows = capacity(api)
    assert (rows["MEMORY"]["percentused"], rows["CPU"]["percentused"]) == ("95.00", "95.00")


def test_a_host_name_in_use_is_refused_with_431(simulator_factory: Factory) -> None:
    api = client(simulator_factory(_topology()))
    zone, small, _large, template = ids(api)
    params = {"zoneid": zone, "serviceofferingid": small, "templateid": template, "name": "dup"}
    first = api.deployVirtualMachine(**params, fetch_result=True)["virtualmachine"]
    expected = {
        "uuidList": [],
        "errorcode": 431,
        "cserrorcode": 4350,
        "errortext": (
            "The vm with hostName dup already exists in the network domain: cs2cloud.internal; "
            "network=SoloZone1-Shared"
        ),
    }
    with pytest.raises(CloudStackApiException) as refused:
        api.deployVirtualMachine(**params)
    assert refused.value.error == expected
    assert len(api.listVirtualMachines(name="dup")["virtualmachine"]) == 1

    api.destroyVirtualMachine(id=first["id"], fetch_result=True)  # Destroyed, not expunged: still held
    with pytest.raises(CloudStackApiException) as still:
        api.deployVirtualMachine(**params)
    assert still.value.error == expected
    api.destroyVirtualMachine(id=first["id"], expunge=True, fetch_result=True)
    assert api.deployVirtualMachine(**params, fetch_result=True)["virtualmachine"]["name"] == "dup"
    # The display name is not unique in CloudStack.
    other = api.deployVirtualMachine(**{**params, "name": "dup2"}, displayname="dup", fetch_result=True)
    assert other["virtualmachine"]["displayname"] == "dup"
