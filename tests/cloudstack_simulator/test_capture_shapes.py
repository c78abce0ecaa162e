"""Simulator answers have the keys (recursively) and JSON types of real CloudStack bodies.

The real bodies are the Simulator-hypervisor captures in /work/shared/reference/cloudstack-captures
(CloudStack 4.16, from apache/cloudstack-go test data). Every difference allowed is listed in
``ALLOWED`` with its reason; any other difference, or an allowed one that no longer occurs, fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cs import CloudStack

from cloudstack_simulator.testing import SimulatorHandle, run_simulator
from tests.cloudstack_simulator.cloud_fixtures import client, ids, small_topology, wait_jobs

CAPTURES = Path("/work/shared/reference/cloudstack-captures")
OPAQUE = {"details"}  # free-form maps: only their type is compared

_VM_STATS = ("cpuused", "networkkbsread", "networkkbswrite", "diskkbsread", "diskkbswrite", "memorykbs")
_VM_STATS += ("memoryintfreekbs", "memorytargetkbs", "diskioread", "diskiowrite")

ALLOWED: dict[str, set[str]] = {
    # A fresh VM in the capture has no statistics yet; the simulator always reports them (zeros).
    "deploy": {f"extra: jobresult.virtualmachine.{k}" for k in _VM_STATS},
    # The capture's stopped VM has no isolation/broadcast URI on its NIC (released with the VLAN);
    # the simulator's NICs sit on a shared network whose VLAN stays, so they keep both.
    # bootmode/boottype: the simulator answers them in every VM view, the capture only on deploy.
    "stop": {
        "extra: jobresult.virtualmachine.nic[].isolationuri",
        "extra: jobresult.virtualmachine.nic[].broadcasturi",
        "extra: jobresult.virtualmachine.bootmode",
        "extra: jobresult.virtualmachine.boottype",
    },
    "start": {"extra: jobresult.virtualmachine.bootmode", "extra: jobresult.virtualmachine.boottype"},
    "list": {"extra: virtualmachine[].bootmode", "extra: virtualmachine[].boottype"},
    "createTags": set(),
    "deleteTags": set(),
    "serviceoffering": set(),
    # A topology template is Ready, like the capture's (the Simulator hypervisor skips downloads).
    "template_ready": set(),
    # While downloading, CloudStack has no size yet (template_store_ref.size is set on completion).
    "template_registering": {"missing: template[].size", "missing: template[].physicalsize"},
    # The capture of listAsyncJobs is a trimmed entry; AsyncJobResponse carries the whole job, as
    # queryAsyncJobResult shows it (cmd, status, result, instance, completion time).
    "listAsyncJobs": {
        f"extra: asyncjobs[].{k}"
        for k in (
            "cmd",
            "jobstatus",
            "jobresulttype",
            "jobresult",
            "jobinstancetype",
            "jobinstanceid",
            "completed",
        )
    },
    # The envelope of a finished async job with a success result and an instance
    # (disassociateIpAddress vs deleteTemplate).
    "job_envelope": set(),
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    return type(value).__name__


def differences(real: Any, ours: Any, path: str = "") -> set[str]:
    """Missing and extra keys and type changes between two JSON values, as dotted paths."""
    where = path or "<root>"
    if _kind(real) != _kind(ours):
        return {f"type: {where} {_kind(real)} != {_kind(ours)}"}
    if isinstance(real, dict):
        out = set()
        for key in real.keys() - ours.keys():
            out.add(f"missing: {path + '.' if path else ''}{key}")
        for key in ours.keys() - real.keys():
            out.add(f"extra: {path + '.' if path else ''}{key}")
        for key in real.keys() & ours.keys():
            if key not in OPAQUE:
                out |= differences(real[key], ours[key], f"{path + '.' if path else ''}{key}")
        return out
    if isinstance(real, list) and real and ours:
        return differences(real[0], ours[0], f"{path}[]")
    return set()


def _capture(service: str, command: str) -> dict[str, Any]:
    # Each command maps to {"<wrapper>": body}; the list capture's wrapper is "listVirtualMachines".
    [body] = json.loads((CAPTURES / f"{service}.json").read_text())[command].values()
    return body


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    with run_simulator(small_topology(), tmp_path_factory.mktemp("shapes")) as handle:
        yield handle


@pytest.fixture(scope="module")
def answers(sim: SimulatorHandle) -> dict[str, Any]:
    """One real answer per compared case."""
    api: CloudStack = client(sim)
    zone, small, _large, template = ids(api)
    out: dict[str, Any] = {}
    deployed = api.deployVirtualMachine(
        zoneid=zone, serviceofferingid=small, templateid=template, name="shape"
    )
    [out["deploy"]] = wait_jobs(api, [deployed["jobid"]])
    vm = deployed["id"]
    tags = api.createTags(resourceids=vm, resourcetype="UserVm", tags=[{"key": "k", "value": "v"}])
    [out["createTags"]] = wait_jobs(api, [tags["jobid"]])
    untag = api.deleteTags(resourceids=vm, resourcetype="UserVm", tags=[{"key": "k"}])
    [out["deleteTags"]] = wait_jobs(api, [untag["jobid"]])
    [out["stop"]] = wait_jobs(api, [api.stopVirtualMachine(id=vm)["jobid"]])
    [out["start"]] = wait_jobs(api, [api.startVirtualMachine(id=vm)["jobid"]])
    out["list"] = api.listVirtualMachines(id=vm)
    out["serviceoffering"] = api.listServiceOfferings(id=small)["serviceoffering"][0]
    out["template_ready"] = api.listTemplates(templatefilter="all", id=template)
    out["template_registering"] = api.registerTemplate(
        name="t", format="QCOW2", hypervisor="KVM", url="http://127.0.0.1:9/none.qcow2", zoneid=zone
    )
    out["listAsyncJobs"] = api.listAsyncJobs()
    deleted = api.deleteTemplate(id=out["template_registering"]["template"][0]["id"])
    [out["job_envelope"]] = wait_jobs(api, [deleted["jobid"]])
    return out


CASES = {
    "deploy": ("VirtualMachineService", "deployVirtualMachine"),
    "stop": ("VirtualMachineService", "stopVirtualMachine"),
    "start": ("VirtualMachineService", "startVirtualMachine"),
    "list": ("VirtualMachineService", "listVirtualMachines"),
    "createTags": ("ResourcetagsService", "createTags"),
    "deleteTags": ("ResourcetagsService", "deleteTags"),
    "template_ready": ("TemplateService", "registerTemplate"),
    "template_registering": ("TemplateService", "registerTemplate"),
    "listAsyncJobs": ("AsyncJobService", "listAsyncJobs"),
    "job_envelope": ("AddressService", "disassociateIpAddress"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_shape_as_real_cloudstack(answers: dict[str, Any], case: str) -> None:
    service, command = CASES[case]
    real = _capture(service, command)
    assert differences(real, answers[case]) == ALLOWED[case]


def test_service_offering_shape(answers: dict[str, Any]) -> None:
    real = _capture("ServiceOfferingService", "createServiceOffering")["serviceoffering"]
    assert differences(real, answers["serviceoffering"]) == ALLOWED["serviceoffering"]


def test_differences_sees_keys_and_types() -> None:
    assert differences({"a": 1, "b": [{"c": True}]}, {"a": "1", "b": [{"d": True}], "e": 0}) == {
        "type: a int != str",
        "missing: b[].c",
        "extra: b[].d",
        "extra: e",
    }
