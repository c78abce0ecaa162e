"""CloudStack capacity types (``listCapacity``): numbers, names, units and dashboard labels.

Numbers and names come from CloudStack's ``Capacity.java`` and ``CapacityVO.capacityNames``; labels
follow CloudStack's own dashboards and the MECA seed deck's seven tiles.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CapacityType:
    """One ``listCapacity`` type.

    :param type: the integer CloudStack sends in ``type``.
    :param name: the name CloudStack sends in ``name``.
    :param label: what the MECA dashboard calls it.
    :param unit: ``bytes``, ``MHz`` or ``count``.
    """

    type: int
    name: str
    label: str
    unit: str


CAPACITY_TYPES: tuple[CapacityType, ...] = (
    CapacityType(0, "MEMORY", "Memory", "bytes"),
    CapacityType(1, "CPU", "CPU", "MHz"),
    CapacityType(2, "STORAGE", "Primary storage", "bytes"),
    CapacityType(3, "STORAGE_ALLOCATED", "Allocated storage", "bytes"),
    CapacityType(4, "VIRTUAL_NETWORK_PUBLIC_IP", "Public IPs", "count"),
    CapacityType(5, "PRIVATE_IP", "Management IP addresses", "count"),
    CapacityType(6, "SECONDARY_STORAGE", "Secondary storage", "bytes"),
    CapacityType(7, "VLAN", "VLANs", "count"),
    CapacityType(8, "DIRECT_ATTACHED_PUBLIC_IP", "Shared network IPs", "count"),
    CapacityType(9, "LOCAL_STORAGE", "Local storage", "bytes"),
    CapacityType(10, "VIRTUAL_NETWORK_IPV6_SUBNET", "IPv6 subnets", "count"),
    CapacityType(19, "GPU", "GPU", "count"),
    CapacityType(90, "CPU_CORE", "CPU cores", "count"),
)

BY_TYPE: dict[int, CapacityType] = {c.type: c for c in CAPACITY_TYPES}

#: The seed deck's seven dashboard tiles, in the deck's order.
DASHBOARD_TYPES: tuple[int, ...] = (0, 1, 3, 2, 5, 6, 8)
