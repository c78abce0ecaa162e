"""VM commands: list, deploy, start, stop, destroy.

Jobs of one VM run one after another (CloudStack's VM work queue). Placement is first-fit over
the zone's hosts on free memory and CPU (what VMs and the background load leave), decided when a
start finishes, once the zone's allocations with the VM stay under the region's
``cluster.*.allocated.capacity.disablethreshold`` settings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from cloudstack_simulator.capacity import host_usage
from cloudstack_simulator.clock import cs_time
from cloudstack_simulator.errors import ApiError
from cloudstack_simulator.ids import new_uuid
from cloudstack_simulator.infrastructure import Zone
from cloudstack_simulator.jobs import AsyncJob, JobFailure
from cloudstack_simulator.params import (
    indexed_maps,
    list_answer,
    lookup,
    lookup_required,
    parse_bool,
    require,
)
from cloudstack_simulator.state import RegionState
from cloudstack_simulator.vms import VirtualMachine

Params = dict[str, str]
_HOSTNAME = re.compile(r"^(?![0-9])(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_ADMIN_VM = "org.apache.cloudstack.api.command.admin.vm."
#: The network domain of the admin account's guest networks (CloudStack's ``cs<account id>cloud.internal``).
NETWORK_DOMAIN = "cs2cloud.internal"


def _vm_param(state: RegionState, command: str, params: Params) -> VirtualMachine:
    vm: VirtualMachine = lookup_required(command, params, "id", state.vms)
    return vm


def list_virtual_machines(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``listVirtualMachines``, oldest first, with paging (``count`` is the total).

    Filters: id, ids, name, state (``present`` = neither Destroyed nor Expunging), zoneid,
    keyword and ``tags[n].key/value``.
    """
    only = lookup(command, params, "id", state.vms)
    ids = [i for i in params.get("ids", "").split(",") if i]
    for vm_id in ids:
        lookup(command, {"ids": vm_id}, "ids", state.vms)
    zone = lookup(command, params, "zoneid", state.zones)
    wanted_state = params.get("state", "").lower()
    tag_filters = indexed_maps(params, "tags")
    keyword = params.get("keyword", "").lower()
    out = []
    for vm in sorted(state.vms.values(), key=lambda v: v.number):
        if (only is not None and vm is not only) or (ids and vm.id not in ids):
            continue
        if (zone is not None and vm.zone is not zone) or (params.get("name") and params["name"] != vm.name):
            continue
        if wanted_state == "present":
            if vm.state in ("Destroyed", "Expunging"):
                continue
        elif wanted_state and wanted_state != vm.state.lower():
            continue
        if keyword and not any(keyword in t.lower() for t in (vm.name, vm.display_name, vm.state)):
            continue
        vm_tags = {(t.key, t.value) for t in state.tags.get(vm.id, [])}
        vm_keys = {k for k, _ in vm_tags}
        if not all(
            (f.get("key"), f["value"]) in vm_tags if "value" in f else f.get("key") in vm_keys
            for f in tag_filters
        ):
            continue
        out.append(state.vm_dict(vm))
    return list_answer(command, params, "virtualmachine", out)


def _result(state: RegionState, vm: VirtualMachine, job: AsyncJob) -> dict[str, Any]:
    return {"virtualmachine": {**state.vm_dict(vm), "jobid": job.id, "jobstatus": 0}}


def _place(state: RegionState, vm: VirtualMachine) -> None:
    """Put ``vm`` on the first host with room and mark it Running.

    Like CloudStack's planner, the zone's cluster is skipped first when its allocated CPU or memory,
    with this VM's, would exceed ``cluster.cpu/memory.allocated.capacity.disablethreshold`` of its
    total; then the first host with room for the VM takes it.

    :raises JobFailure: 533 like CloudStack's planner when the cluster is past a threshold or no
        host has room.
    """
    now = state.clock()
    cpu_ceiling, memory_ceiling = ceiling = state.ceiling()
    usage = [
        (host, host_usage(host, state.vms.values(), state.background, now, ceiling)) for host in vm.zone.hosts
    ]
    cpu_total = sum(host.cpu_mhz_total for host, _ in usage)
    memory_total = sum(host.memory_bytes for host, _ in usage)
    cpu_allocated = sum(used[0] for _, used in usage) + vm.cpu_mhz
    memory_allocated = sum(used[1] for _, used in usage) + vm.memory_bytes
    below = cpu_allocated <= cpu_ceiling * cpu_total and memory_allocated <= memory_ceiling * memory_total
    for host, (mhz, memory, _cores) in usage if below else []:
        if mhz + vm.cpu_mhz <= host.cpu_mhz_total and memory + vm.memory_bytes <= host.memory_bytes:
            vm.host, vm.state, vm.changed = host, "Running", now
            return
    raise JobFailure(533, f"Unable to create a deployment for VM[User|i-2-{vm.number}-VM]")


def _check_unique_host_name(state: RegionState, zone: Zone, name: str) -> None:
    """Refuse a host name a VM not yet expunged already has on the zone's network (431, like CloudStack)."""
    if any(vm.name == name and vm.zone is zone for vm in state.vms.values()):
        raise ApiError(
            431,
            f"The vm with hostName {name} already exists in the network domain: {NETWORK_DOMAIN}; "
            f"network={zone.spec.name}-Shared",
            4350,
        )


def deploy_virtual_machine(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``deployVirtualMachine``: answers ``{id, jobid}`` at once.

    The job leaves the VM Running (Stopped with ``startvm=false``), or fails (VM in Error) with 533
    when the zone is past an allocation threshold, no host has room or the shared network has no
    free address, 530 on an injected failure. A host name that a VM not yet expunged has on the
    same network is refused at once with 431.
    """
    for name in ("zoneid", "serviceofferingid", "templateid"):
        require(command, params, name)
    zone = lookup_required(command, params, "zoneid", state.zones)
    offering = lookup_required(command, params, "serviceofferingid", state.offerings)
    template = lookup_required(command, params, "templateid", state.templates)
    if zone not in template.zones or not template.ready:
        raise ApiError(
            431,
            f"Template {template.id} ({template.name}) is not ready in zone {zone.spec.name}; "
            f"its status is: {template.status()}",
            4350,
        )
    vm_id = new_uuid(state.rng)
    name = params.get("name") or f"VM-{vm_id}"
    if not _HOSTNAME.match(name):
        raise ApiError(
            431,
            "Invalid name. Vm name can contain ASCII letters 'a' through 'z', the digits '0' through '9', "
            "and the hyphen ('-'), must be between 1 and 63 characters long, and can't start or end with "
            '"-" and can\'t start with digit',
            4350,
        )
    _check_unique_host_name(state, zone, name)
    start = parse_bool(params.get("startvm"), default=True)
    mac_tail = ":".join(f"{state.rng.randrange(256):02x}" for _ in range(3))
    unlucky = state.rng.random() < state.spec.faults.deploy_failure_rate
    now = state.clock()
    vm = VirtualMachine(
        id=vm_id,
        number=state.next_instance_number,
        name=name,
        display_name=params.get("displayname") or name,
        zone=zone,
        offering=offering,
        template=template,
        os_type=state.os_types[template.os_type_id],
        state="Starting" if start else "Stopped",
        created=now,
        changed=now,
        nic_id=new_uuid(state.rng),
        ip=zone.take_ip(),
        mac=f"02:00:{mac_tail[:5]}:00:{mac_tail[6:]}",
    )
    state.next_instance_number += 1
    state.vms[vm.id] = vm
    state.deployed.append({"id": vm.id, "name": vm.name, "created": cs_time(now)})

    def finish(job: AsyncJob) -> dict[str, Any]:
        try:
            if vm.ip is None:
                raise JobFailure(
                    533, f"Unable to deploy VM[User|i-2-{vm.number}-VM]: Insufficient address capacity"
                )
            if unlucky:
                raise JobFailure(
                    530,
                    f"Unable to start VM instance [i-2-{vm.number}-VM]: "
                    "the hypervisor agent reported an error",
                )
            if start:
                _place(state, vm)
        except JobFailure:
            vm.host, vm.state, vm.changed = None, "Error", state.clock()
            if vm.ip is not None:
                zone.release_ip(vm.ip)
                vm.ip = None
            raise
        return _result(state, vm, job)

    job = state.submit(
        _ADMIN_VM + "DeployVMCmdByAdmin", state.spec.timings.deploy_s, finish, ("VirtualMachine", vm.id)
    )
    vm.busy_until = job.due
    return {"id": vm.id, "jobid": job.id}


def _queue(
    state: RegionState,
    vm: VirtualMachine,
    cmd: str,
    seconds: float,
    finish: Callable[[AsyncJob], dict[str, Any]],
) -> dict[str, Any]:
    """Queue a job on a VM behind its earlier ones."""
    job = state.submit(_ADMIN_VM + cmd, seconds, finish, ("VirtualMachine", vm.id), vm.busy_until)
    vm.busy_until = job.due
    return {"jobid": job.id}


def _idle(state: RegionState, vm: VirtualMachine) -> bool:
    return vm.busy_until <= state.clock()


def start_virtual_machine(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``startVirtualMachine``: Stopped → Starting → Running, or the job fails 533 without room."""
    vm = _vm_param(state, command, params)
    if vm.state in ("Destroyed", "Expunging", "Error"):
        raise ApiError(431, f"Unable to start VM instance {vm.id}: it is in state {vm.state}", 4350)
    if vm.state == "Stopped" and _idle(state, vm):
        vm.state = "Starting"

    def finish(job: AsyncJob) -> dict[str, Any]:
        if vm.state in ("Stopped", "Starting"):
            try:
                _place(state, vm)
            except JobFailure:
                vm.state = "Stopped"
                raise
        elif vm.state != "Running":
            raise JobFailure(530, f"Unable to start VM instance {vm.id}: it is in state {vm.state}")
        return _result(state, vm, job)

    return _queue(state, vm, "StartVMCmdByAdmin", state.spec.timings.start_s, finish)


def stop_virtual_machine(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``stopVirtualMachine``: Running → Stopping → Stopped, releasing CPU and memory."""
    vm = _vm_param(state, command, params)
    if vm.state in ("Destroyed", "Expunging", "Error"):
        raise ApiError(431, f"Unable to stop VM instance {vm.id}: it is in state {vm.state}", 4350)
    if vm.state == "Running" and _idle(state, vm):
        vm.state = "Stopping"

    def finish(job: AsyncJob) -> dict[str, Any]:
        if vm.state not in ("Running", "Stopping", "Starting", "Stopped"):
            raise JobFailure(530, f"Unable to stop VM instance {vm.id}: it is in state {vm.state}")
        vm.host, vm.state, vm.changed = None, "Stopped", state.clock()
        return _result(state, vm, job)

    return _queue(state, vm, "StopVMCmdByAdmin", state.spec.timings.stop_s, finish)


def expunge(state: RegionState, vm: VirtualMachine) -> None:
    """Remove a VM for good: its address goes back to the range, its tags disappear."""
    vm.host, vm.state = None, "Expunging"
    if vm.ip is not None:
        vm.zone.release_ip(vm.ip)
    state.vms.pop(vm.id, None)
    state.forget_resource(vm.id)


def destroy_virtual_machine(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``destroyVirtualMachine``: the VM ends Destroyed (expunged after the expunge delay).

    With ``expunge=true`` the job answers it Expunging and it is gone from every list.
    """
    vm = _vm_param(state, command, params)
    wipe = parse_bool(params.get("expunge"))
    if vm.state == "Running" and _idle(state, vm):
        vm.state = "Stopping"

    def finish(job: AsyncJob) -> dict[str, Any]:
        if vm.id not in state.vms:
            raise JobFailure(431, "Unable to find a virtual machine with specified vmId")
        vm.host, vm.changed = None, state.clock()
        if wipe:
            expunge(state, vm)
        else:
            vm.state = "Destroyed"
        return _result(state, vm, job)

    return _queue(state, vm, "DestroyVMCmdByAdmin", state.spec.timings.destroy_s, finish)
