"""VM listing, paging, tag filters, lifecycle states and CloudStack error texts, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cs import CloudStack, CloudStackApiException

from cloudstack_simulator.testing import SimulatorHandle, run_simulator
from tests.cloudstack_simulator.cloud_fixtures import client, ids, small_topology, wait_jobs
from tests.cloudstack_simulator.conftest import ApiCall


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    with run_simulator(small_topology(), tmp_path_factory.mktemp("vms")) as handle:
        yield handle


@pytest.fixture(scope="module")
def five_tagged(sim: SimulatorHandle) -> list[str]:
    """Five stopped VMs; the first three tagged session=s1, the last two session=s2, vm 0 also course=cc."""
    api = client(sim)
    zone, small, _large, template = ids(api)
    jobs = [
        api.deployVirtualMachine(
            zoneid=zone, serviceofferingid=small, templateid=template, name=f"page-{i}", startvm="false"
        )
        for i in range(5)
    ]
    wait_jobs(api, [j["jobid"] for j in jobs])
    vm_ids = [j["id"] for j in jobs]
    api.createTags(
        resourceids=",".join(vm_ids[:3]),
        resourcetype="UserVm",
        tags=[{"key": "session", "value": "s1"}],
        fetch_result=True,
    )
    api.createTags(
        resourceids=",".join(vm_ids[3:]),
        resourcetype="UserVm",
        tags=[{"key": "session", "value": "s2"}],
        fetch_result=True,
    )
    api.createTags(
        resourceids=vm_ids[0],
        resourcetype="UserVm",
        tags=[{"key": "course", "value": "cc"}],
        fetch_result=True,
    )
    return vm_ids


def _error(excinfo: pytest.ExceptionInfo[CloudStackApiException]) -> tuple[int, str]:
    return excinfo.value.error["errorcode"], excinfo.value.error["errortext"]


def test_paging_count_and_empty_pages(sim: SimulatorHandle, five_tagged: list[str]) -> None:
    api = client(sim)
    mine = {"tags[0].key": "session"}
    page2 = api.listVirtualMachines(page=2, pagesize=2, **mine)
    assert page2["count"] == 5
    assert [vm["id"] for vm in page2["virtualmachine"]] == five_tagged[2:4]
    assert [vm["id"] for vm in api.listVirtualMachines(page=3, pagesize=2, **mine)["virtualmachine"]] == [
        five_tagged[4]
    ]
    assert api.listVirtualMachines(page=4, pagesize=2, **mine) == {"count": 5}
    assert api.listVirtualMachines(name="no-such-vm") == {}
    everything = api.listVirtualMachines(fetch_list=True, **mine)
    assert [vm["id"] for vm in everything] == five_tagged


def test_tag_filters_and_list_tags(sim: SimulatorHandle, five_tagged: list[str]) -> None:
    api = client(sim)
    s1 = api.listVirtualMachines(fetch_list=True, tags=[{"key": "session", "value": "s1"}])
    assert [vm["id"] for vm in s1] == five_tagged[:3]
    both = api.listVirtualMachines(
        fetch_list=True, tags=[{"key": "session", "value": "s1"}, {"key": "course", "value": "cc"}]
    )
    assert [vm["id"] for vm in both] == five_tagged[:1]
    assert {t["key"]: t["value"] for t in both[0]["tags"]} == {"session": "s1", "course": "cc"}
    tags = api.listTags(resourcetype="UserVm", key="session", value="s2")
    assert tags["count"] == 2
    assert {t["resourceid"] for t in tags["tag"]} == set(five_tagged[3:])
    with pytest.raises(CloudStackApiException) as dup:
        api.createTags(
            resourceids=five_tagged[0], resourcetype="UserVm", tags=[{"key": "course", "value": "x"}]
        )
    assert _error(dup)[0] == 431


def test_delete_tags(sim: SimulatorHandle, five_tagged: list[str]) -> None:
    api = client(sim)
    api.createTags(
        resourceids=five_tagged[4],
        resourcetype="UserVm",
        tags=[{"key": "tmp", "value": "1"}],
        fetch_result=True,
    )
    assert api.listVirtualMachines(fetch_list=True, tags=[{"key": "tmp", "value": "1"}])
    result = api.deleteTags(
        resourceids=five_tagged[4], resourcetype="UserVm", tags=[{"key": "tmp"}], fetch_result=True
    )
    assert result == {"success": True}
    assert api.listVirtualMachines(fetch_list=True, tags=[{"key": "tmp", "value": "1"}]) == []
    assert api.listTags(resourceid=five_tagged[4], key="session")["count"] == 1


def test_lifecycle_states_and_job_bodies(sim: SimulatorHandle) -> None:
    api = client(sim)
    zone, small, _large, template = ids(api)
    started = api.deployVirtualMachine(zoneid=zone, serviceofferingid=small, templateid=template, name="life")
    assert set(started) == {"id", "jobid"}
    pending = api.queryAsyncJobResult(jobid=started["jobid"])
    assert pending["jobstatus"] == 0
    assert "jobresult" not in pending
    assert api.listVirtualMachines(id=started["id"])["virtualmachine"][0]["state"] == "Starting"
    [done] = wait_jobs(api, [started["jobid"]])
    vm = done["jobresult"]["virtualmachine"]
    assert done["cmd"] == "org.apache.cloudstack.api.command.admin.vm.DeployVMCmdByAdmin"
    assert (done["jobresultcode"], done["jobinstanceid"], vm["state"]) == (0, started["id"], "Running")
    assert vm["instancename"].startswith("i-2-")
    assert vm["instancename"].endswith("-VM")
    assert vm["nic"][0]["ipaddress"].startswith("10.4.")
    stop = api.stopVirtualMachine(id=vm["id"])
    assert api.listVirtualMachines(id=vm["id"])["virtualmachine"][0]["state"] == "Stopping"
    assert wait_jobs(api, [stop["jobid"]])[0]["jobresult"]["virtualmachine"]["state"] == "Stopped"
    assert "hostid" not in api.listVirtualMachines(id=vm["id"])["virtualmachine"][0]
    assert api.startVirtualMachine(id=vm["id"], fetch_result=True)["virtualmachine"]["state"] == "Running"
    destroyed = api.destroyVirtualMachine(id=vm["id"], fetch_result=True)["virtualmachine"]
    assert destroyed["state"] == "Destroyed"
    assert api.listVirtualMachines(id=vm["id"], state="Destroyed")["count"] == 1
    assert api.listVirtualMachines(name="life", state="present") == {}
    expunged = api.destroyVirtualMachine(id=vm["id"], expunge="TRUE", fetch_result=True)["virtualmachine"]
    assert expunged["state"] == "Expunging"
    assert api.listVirtualMachines(name="life") == {}
    jobs = api.listAsyncJobs()["asyncjobs"]
    assert started["jobid"] in {j["jobid"] for j in jobs}


def test_queued_jobs_of_one_vm_run_in_order(sim: SimulatorHandle) -> None:
    api = client(sim)
    zone, small, _large, template = ids(api)
    deploy = api.deployVirtualMachine(
        zoneid=zone, serviceofferingid=small, templateid=template, name="queued"
    )
    destroy = api.destroyVirtualMachine(id=deploy["id"], expunge=True)
    first, second = wait_jobs(api, [deploy["jobid"], destroy["jobid"]])
    assert first["jobresult"]["virtualmachine"]["state"] == "Running"
    assert second["jobresult"]["virtualmachine"]["state"] == "Expunging"
    assert first["completed"] <= second["completed"]
    assert api.listVirtualMachines(name="queued") == {}


def test_error_texts(sim: SimulatorHandle, api_call: ApiCall) -> None:
    api: CloudStack = client(sim)
    zone, _small, _large, template = ids(api)
    with pytest.raises(CloudStackApiException) as missing:
        api.deployVirtualMachine(zoneid=zone, templateid=template)
    assert _error(missing) == (
        431,
        "Unable to execute API command deployvirtualmachine due to missing parameter serviceofferingid",
    )
    assert missing.value.error["cserrorcode"] == 9999
    with pytest.raises(CloudStackApiException) as paging:
        api.listVirtualMachines(pagesize=2)
    assert _error(paging) == (431, '"page" parameter is required when "pagesize" is specified')
    # cs always adds pagesize to page, so the reverse case goes over plain signed HTTP.
    reverse = api_call(sim.region("solo"), "listVirtualMachines", page="1")
    assert reverse.status_code == 431
    assert reverse.json()["listvirtualmachinesresponse"]["errortext"] == (
        '"pagesize" parameter is required when "page" is specified'
    )
    assert api.listVirtualMachines(pagesize=-1, name="no-such-vm") == {}
    unknown = "0b1d2c3e-0000-4000-8000-000000000000"
    with pytest.raises(CloudStackApiException) as absent:
        api.startVirtualMachine(id=unknown)
    code, text = _error(absent)
    assert code == 431
    assert text.startswith("Unable to execute API command startvirtualmachine due to invalid value.")
    assert f"Invalid parameter id value={unknown}" in text
    with pytest.raises(CloudStackApiException) as malformed:
        api.queryAsyncJobResult(jobid="17164")
    assert "Invalid parameter jobid value=17164" in _error(malformed)[1]
    with pytest.raises(CloudStackApiException) as no_filter:
        api.listTemplates()
    assert _error(no_filter)[1].endswith("due to missing parameter templatefilter")


def test_reference_listings(sim: SimulatorHandle) -> None:
    api = client(sim)
    [region] = api.listRegions()["region"]
    assert (region["id"], region["name"]) == (4, "solo")
    windows = api.listOsTypes(description="windows")
    assert windows["count"] >= 2
    assert all("Windows" in o["description"] for o in windows["ostype"])
    descriptions = {o["description"] for o in api.listOsTypes(fetch_list=True)}
    assert {"CentOS 7", "Ubuntu 22.04 LTS"} <= descriptions
    assert api.listPublicIpAddresses() == {}
    assert api.listPortForwardingRules() == {}
    assert api.listIpForwardingRules() == {}
    assert api.listHosts()["count"] == 2
