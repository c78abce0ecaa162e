"""Capacity of a zone computed from its hosts and ranges and from the VMs and templates that exist.

Types and names follow ``Capacity.java`` / ``CapacityVO.capacityNames``:

- 0 MEMORY, 1 CPU, 90 CPU_CORE: host totals; used = VMs placed on a host (Running, or Stopping
  on the way out) plus the region's background load, if any (``background_load.py``, kept under
  the allocation thresholds). Allocated equals used (no reservation for recently stopped VMs).
- 2 STORAGE: primary pool size; used = preallocated volumes + each VM's template physical size
  (thin clones), for every VM not yet expunged.
- 3 STORAGE_ALLOCATED: pool size times over-provisioning; used = preallocated + root disk sizes.
- 4 VIRTUAL_NETWORK_PUBLIC_IP: the zone's public range; VMs sit on the shared network, so 0 used.
- 5 PRIVATE_IP: the pod's management range; used = one per host plus the two system VMs.
- 6 SECONDARY_STORAGE: store size; used = physical size of the templates held.
- 7 VLAN: the guest VLAN range; used = the shared network's VLAN.
- 8 DIRECT_ATTACHED_PUBLIC_IP: the shared network range; used = the addresses VMs hold (from
  deploy until expunge; a failed deploy gives its address back).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cloudstack_simulator.background_load import BackgroundLoad, Usage
from cloudstack_simulator.infrastructure import GIB, Host, Zone
from cloudstack_simulator.templates import Template
from cloudstack_simulator.vms import VirtualMachine

NAMES = {
    0: "MEMORY",
    1: "CPU",
    2: "STORAGE",
    3: "STORAGE_ALLOCATED",
    4: "VIRTUAL_NETWORK_PUBLIC_IP",
    5: "PRIVATE_IP",
    6: "SECONDARY_STORAGE",
    7: "VLAN",
    8: "DIRECT_ATTACHED_PUBLIC_IP",
    90: "CPU_CORE",
}
SYSTEM_VMS_PER_ZONE = 2


def host_usage(
    host: Host,
    vms: Iterable[VirtualMachine],
    background: BackgroundLoad | None = None,
    now: float = 0.0,
    ceiling: tuple[float, float] = (1.0, 1.0),
) -> Usage:
    """(MHz, bytes of memory, cores) that VMs, and the background load if given, hold on ``host``.

    :param host: the host.
    :param vms: every VM of the region not yet expunged.
    :param background: the region's background load, or ``None``.
    :param now: the time the background load is evaluated at (epoch seconds).
    :param ceiling: the region's (CPU, memory) allocation thresholds, which the background stays under.
    """
    mine = [vm for vm in vms if vm.host is host and vm.consuming]
    used = (
        sum(vm.cpu_mhz for vm in mine),
        sum(vm.memory_bytes for vm in mine),
        sum(vm.offering.spec.cpu_number for vm in mine),
    )
    if background is None:
        return used
    capacity = (host.cpu_mhz_total, host.memory_bytes, host.spec.cpu_cores)
    extra = background.share(host.id, capacity, used, now, ceiling)
    return (used[0] + extra[0], used[1] + extra[1], used[2] + extra[2])


def _entry(zone: Zone, kind: int, used: int, total: int) -> dict[str, Any]:
    percent = f"{(100.0 * used / total) if total else 0.0:.2f}"
    return {
        "type": kind,
        "name": NAMES[kind],
        "zoneid": zone.id,
        "zonename": zone.spec.name,
        "podid": zone.pod_id,
        "podname": f"{zone.spec.name}-Pod1",
        "capacityallocated": used,
        "capacityused": used,
        "capacitytotal": total,
        "percentused": percent,
    }


def zone_capacity(
    zone: Zone,
    vms: Iterable[VirtualMachine],
    templates: Iterable[Template],
    background: BackgroundLoad | None = None,
    now: float = 0.0,
    ceiling: tuple[float, float] = (1.0, 1.0),
) -> list[dict[str, Any]]:
    """Every capacity type of ``zone``, sorted by type.

    :param zone: the zone.
    :param vms: every VM of the region not yet expunged.
    :param templates: every template of the region.
    :param background: the region's background load, or ``None``.
    :param now: the time the background load is evaluated at (epoch seconds).
    :param ceiling: the region's (CPU, memory) allocation thresholds, which the background stays under.
    """
    spec = zone.spec
    vms = [vm for vm in vms if vm.zone is zone]
    per_host = [host_usage(h, vms, background, now, ceiling) for h in zone.hosts]
    held_storage = [vm for vm in vms if vm.state != "Error"]
    preallocated = int(spec.preallocated_storage_gib * GIB)
    primary = int(spec.primary_storage_gib * GIB)
    in_zone = [t for t in templates if zone in t.zones and t.ready]
    values = {
        0: (sum(u[1] for u in per_host), sum(h.memory_bytes for h in zone.hosts)),
        1: (sum(u[0] for u in per_host), sum(h.cpu_mhz_total for h in zone.hosts)),
        2: (preallocated + sum(vm.template.physical_size for vm in held_storage), primary),
        3: (
            preallocated + sum(vm.template.virtual_size for vm in held_storage),
            int(primary * spec.storage_overprovisioning),
        ),
        4: (0, spec.public_ips),
        5: (len(zone.hosts) + SYSTEM_VMS_PER_ZONE, spec.management_ips),
        6: (sum(t.physical_size for t in in_zone), int(spec.secondary_storage_gib * GIB)),
        7: (1, spec.vlans),
        8: (len(zone.used_ip_offsets), spec.shared_network_ips),
        90: (sum(u[2] for u in per_host), sum(h.spec.cpu_cores for h in zone.hosts)),
    }
    return [_entry(zone, kind, used, total) for kind, (used, total) in sorted(values.items())]
