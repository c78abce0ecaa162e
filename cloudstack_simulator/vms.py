"""A simulated virtual machine and its ``listVirtualMachines`` shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudstack_simulator.clock import cs_time
from cloudstack_simulator.infrastructure import Host, Offering, OsType, Zone
from cloudstack_simulator.templates import Template


@dataclass
class Account:
    """The (single, admin) account owning everything.

    :param account_id: uuid.
    :param user_id: uuid.
    :param domain_id: uuid of the ROOT domain.
    """

    account_id: str
    user_id: str
    domain_id: str

    def owner(self) -> dict[str, Any]:
        """The ``account``/``domainid``/``domain`` keys most objects carry."""
        return {"account": "admin", "domainid": self.domain_id, "domain": "ROOT"}


@dataclass
class VirtualMachine:
    """One VM.

    :param id: uuid.
    :param number: internal id used in ``instancename`` (``i-2-<number>-VM``).
    :param name: host name.
    :param display_name: display name.
    :param zone: its zone.
    :param offering: its compute offering.
    :param template: the template it was made from.
    :param os_type: the template's OS type.
    :param state: a ``VirtualMachine.State`` name.
    :param created: epoch seconds.
    :param changed: epoch seconds of the last state change (expunge delay counts from it).
    :param nic_id: uuid of its NIC.
    :param ip: its address on the zone's shared network (``None`` when the range was exhausted).
    :param mac: its MAC address.
    :param host: the host it runs on, while it holds one.
    :param busy_until: when its last queued job finishes (VM jobs run one after another).
    """

    id: str
    number: int
    name: str
    display_name: str
    zone: Zone
    offering: Offering
    template: Template
    os_type: OsType
    state: str
    created: float
    changed: float
    nic_id: str
    ip: str | None
    mac: str
    host: Host | None = None
    busy_until: float = 0.0
    details: dict[str, str] = field(default_factory=dict)

    @property
    def cpu_mhz(self) -> int:
        """CPU it reserves on a host, in MHz."""
        return self.offering.spec.cpu_number * self.offering.spec.cpu_speed

    @property
    def memory_bytes(self) -> int:
        """Memory it reserves on a host, in bytes."""
        return self.offering.spec.memory * 1024 * 1024

    @property
    def consuming(self) -> bool:
        """Whether it holds CPU and memory on a host now."""
        return self.host is not None

    def as_dict(self, account: Account, tags: list[dict[str, Any]]) -> dict[str, Any]:
        """The VM as ``listVirtualMachines`` shows it (keys of the real Simulator captures).

        :param account: the owner.
        :param tags: its resource tags, already in API shape.
        """
        s, t = self.offering.spec, self.template
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "displayname": self.display_name,
            "account": "admin",
            "userid": account.user_id,
            "username": "admin",
            "domainid": account.domain_id,
            "domain": "ROOT",
            "created": cs_time(self.created),
            "state": self.state,
            "haenable": False,
            "zoneid": self.zone.id,
            "zonename": self.zone.spec.name,
        }
        if self.host is not None:
            out["hostid"] = self.host.id
            out["hostname"] = self.host.spec.name
        running = self.state == "Running"
        out.update(
            {
                "templateid": t.id,
                "templatename": t.name,
                "templatedisplaytext": t.display_text,
                "passwordenabled": t.password_enabled,
                "serviceofferingid": self.offering.id,
                "serviceofferingname": s.name,
                "cpunumber": s.cpu_number,
                "cpuspeed": s.cpu_speed,
                "memory": s.memory,
                "cpuused": "10%" if running else "0%",
                "networkkbsread": 0,
                "networkkbswrite": 0,
                "diskkbsread": 0,
                "diskkbswrite": 0,
                "memorykbs": s.memory * 1024 if running else 0,
                "memoryintfreekbs": 0,
                "memorytargetkbs": s.memory * 1024 if running else 0,
                "diskioread": 0,
                "diskiowrite": 0,
                "guestosid": self.os_type.id,
                "rootdeviceid": 0,
                "rootdevicetype": "ROOT",
                "securitygroup": [],
                "nic": [self._nic()],
                "hypervisor": t.hypervisor,
                "instancename": f"i-2-{self.number}-VM",
                "details": dict(self.details),
                "affinitygroup": [],
                "displayvm": True,
                "isdynamicallyscalable": False,
                "ostypeid": self.os_type.id,
                "osdisplayname": self.os_type.description,
                "bootmode": "legacy",
                "boottype": "Bios",
                "tags": tags,
            }
        )
        return out

    def _nic(self) -> dict[str, Any]:
        vlan = f"vlan://{self.zone.vlan}"
        address = {} if self.ip is None else {"ipaddress": self.ip}
        return {
            "id": self.nic_id,
            **self.zone.nic_base(),
            **address,
            "isolationuri": vlan,
            "broadcasturi": vlan,
            "traffictype": "Guest",
            "type": "Shared",
            "isdefault": True,
            "macaddress": self.mac,
            "secondaryip": [],
            "extradhcpoption": [],
        }
