"""The fixed part of a region at run time: zones, hosts, offerings and OS types, with their API shapes."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from typing import Any

from cloudstack_simulator.clock import cs_time
from cloudstack_simulator.ids import new_uuid
from cloudstack_simulator.topology import HostSpec, OfferingSpec, ZoneSpec

GIB = 1024**3
MIB = 1024**2
SHARED_IP_START = 10


@dataclass
class Host:
    """A hypervisor host of a zone.

    :param id: uuid.
    :param spec: its topology entry.
    :param ip: management IP address.
    :param created: epoch seconds.
    """

    id: str
    spec: HostSpec
    ip: str
    created: float

    @property
    def memory_bytes(self) -> int:
        """Total memory in bytes."""
        return int(self.spec.memory_gib * GIB)

    @property
    def cpu_mhz_total(self) -> int:
        """Total CPU in MHz (cores times core speed)."""
        return self.spec.cpu_cores * self.spec.cpu_mhz


@dataclass
class Zone:
    """A zone with its pod, hosts and one shared guest network whose IPs VMs take.

    :param id: uuid.
    :param spec: its topology entry.
    :param index: position in the region (used to derive address ranges).
    :param region_id: the integer region id (used to derive address ranges).
    """

    id: str
    spec: ZoneSpec
    index: int
    region_id: int
    pod_id: str
    network_id: str
    token: str
    hosts: list[Host] = field(default_factory=list)
    used_ip_offsets: set[int] = field(default_factory=set)

    @classmethod
    def create(cls, spec: ZoneSpec, index: int, region_id: int, rng: random.Random, now: float) -> Zone:
        """Build a zone, drawing its ids from ``rng`` in a fixed order."""
        zone = cls(
            id=new_uuid(rng),
            spec=spec,
            index=index,
            region_id=region_id,
            pod_id=new_uuid(rng),
            network_id=new_uuid(rng),
            token=new_uuid(rng),
        )
        management = ipaddress.IPv4Address(f"172.{16 + index % 16}.{region_id % 250}.10")
        zone.hosts = [Host(new_uuid(rng), h, str(management + i), now) for i, h in enumerate(spec.hosts)]
        return zone

    @property
    def network(self) -> ipaddress.IPv4Network:
        """The shared guest network (a /20 per zone)."""
        return ipaddress.IPv4Network(f"10.{self.region_id % 250}.{(self.index % 16) * 16}.0/20")

    @property
    def vlan(self) -> int:
        """The shared network's VLAN id."""
        return 100 + self.index

    def take_ip(self) -> str | None:
        """The lowest free address of the shared range, now taken; ``None`` when exhausted."""
        for offset in range(self.spec.shared_network_ips):
            if offset not in self.used_ip_offsets:
                self.used_ip_offsets.add(offset)
                return str(self.network.network_address + SHARED_IP_START + offset)
        return None

    def release_ip(self, ip: str) -> None:
        """Give an address back to the shared range."""
        offset = int(ipaddress.IPv4Address(ip)) - int(self.network.network_address) - SHARED_IP_START
        self.used_ip_offsets.discard(offset)

    def nic_base(self) -> dict[str, Any]:
        """The network part of a NIC on this zone's shared network."""
        return {
            "networkid": self.network_id,
            "networkname": f"{self.spec.name}-Shared",
            "netmask": str(self.network.netmask),
            "gateway": str(self.network.network_address + 1),
        }

    def as_dict(self) -> dict[str, Any]:
        """The zone as ``listZones`` shows it."""
        return {
            "id": self.id,
            "name": self.spec.name,
            "networktype": "Advanced",
            "securitygroupsenabled": False,
            "allocationstate": "Enabled",
            "zonetoken": self.token,
            "dhcpprovider": "VirtualRouter",
            "localstorageenabled": False,
            "type": "Core",
            "tags": [],
        }


@dataclass
class Offering:
    """A compute offering.

    :param id: uuid.
    :param spec: its topology entry.
    :param created: epoch seconds.
    """

    id: str
    spec: OfferingSpec
    created: float

    def as_dict(self) -> dict[str, Any]:
        """As ``listServiceOfferings`` shows it (the keys of the real ``createServiceOffering``)."""
        s = self.spec
        return {
            "id": self.id,
            "name": s.name,
            "displaytext": s.display_text,
            "cpunumber": s.cpu_number,
            "cpuspeed": s.cpu_speed,
            "memory": s.memory,
            "created": cs_time(self.created),
            "storagetype": "shared",
            "provisioningtype": "thin",
            "offerha": False,
            "limitcpuuse": False,
            "isvolatile": False,
            "issystem": False,
            "defaultuse": False,
            "iscustomized": False,
            "cacheMode": "none",
            "rootdisksize": 0,
        }


@dataclass(frozen=True)
class OsType:
    """A guest OS type.

    :param id: uuid.
    :param description: e.g. ``Ubuntu 22.04 LTS``.
    :param category_id: uuid of its category.
    :param category: e.g. ``Ubuntu``.
    """

    id: str
    description: str
    category_id: str
    category: str

    def as_dict(self) -> dict[str, Any]:
        """As ``listOsTypes`` shows it."""
        return {
            "id": self.id,
            "description": self.description,
            "oscategoryid": self.category_id,
            "oscategoryname": self.category,
            "isuserdefined": False,
        }
