"""Collect one region's sample: capacity per zone and type, VM counts by state, allocation thresholds.

``listCapacity`` gives every type per zone, ``listConfigurations`` the CPU and memory allocation
disable thresholds (read when the recorded ones are older than :data:`THRESHOLDS_MAX_AGE`, so a sweep
makes 3 API calls, 4 once an hour).

Four API calls per region for up to 500 VMs (one more per further 500 VMs): the sweep's budget.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from meca.cloudstack.hook import CloudStackHook
from meca.cloudstack.thresholds import CapacityThresholds
from meca.regions import Region

#: How long the recorded allocation thresholds of a region are used before the sweep reads them again.
THRESHOLDS_MAX_AGE = timedelta(hours=1)

PAGE_SIZE = 500


@dataclass(frozen=True)
class ZoneCapacity:
    """One ``listCapacity`` entry: a capacity type of a zone, in the type's unit."""

    zone_id: str | None
    zone_name: str
    type: int
    used: int
    allocated: int | None
    total: int
    percent: float | None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> ZoneCapacity:
        """Parse a ``capacity`` object as CloudStack sends it (``percentused`` is a string)."""
        percent = item.get("percentused")
        allocated = item.get("capacityallocated")
        return cls(
            zone_id=item.get("zoneid"),
            zone_name=item.get("zonename") or "(no zone)",
            type=int(item["type"]),
            used=int(item.get("capacityused") or 0),
            allocated=None if allocated is None else int(allocated),
            total=int(item.get("capacitytotal") or 0),
            percent=None if percent in (None, "") else float(percent),
        )


@dataclass(frozen=True)
class Offering:
    """A service offering: what one VM of it takes from a region."""

    id: str
    name: str
    cpu_number: int
    cpu_speed_mhz: int
    memory_mib: int

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Offering:
        """Parse a ``serviceoffering`` object."""
        return cls(
            id=item["id"],
            name=item["name"],
            cpu_number=int(item.get("cpunumber") or 0),
            cpu_speed_mhz=int(item.get("cpuspeed") or 0),
            memory_mib=int(item.get("memory") or 0),
        )


@dataclass(frozen=True)
class RegionSample:
    """What one sweep learned about one region.

    :param region: the region.
    :param capacities: every ``listCapacity`` entry, per zone and type.
    :param vm_states: how many VMs are in each state.
    :param offerings: the region's service offerings.
    :param latency_ms: mean wall time of one API call, in milliseconds.
    :param api_calls: how many API calls the collection made.
    :param thresholds: the region's allocation disable thresholds.
    :param thresholds_read: whether this collection read them (else they are the recorded ones).
    """

    region: Region
    capacities: list[ZoneCapacity]
    vm_states: dict[str, int] = field(default_factory=dict)
    offerings: list[Offering] = field(default_factory=list)
    latency_ms: float = 0.0
    api_calls: int = 0
    thresholds: CapacityThresholds = field(default_factory=CapacityThresholds)
    thresholds_read: bool = True

    def to_xcom(self) -> dict[str, Any]:
        """A small JSON summary for the task's XCom and log (region totals per capacity name)."""
        totals: dict[int, list[int]] = {}
        for c in self.capacities:
            used_total = totals.setdefault(c.type, [0, 0])
            used_total[0] += c.used
            used_total[1] += c.total
        return {
            "region": self.region.name,
            "zones": sorted({c.zone_name for c in self.capacities}),
            "capacity": {str(t): {"used": u, "total": tot} for t, (u, tot) in sorted(totals.items())},
            "vms": self.vm_states,
            "latency_ms": round(self.latency_ms, 1),
            "api_calls": self.api_calls,
            "thresholds": {"cpu": self.thresholds.cpu, "memory": self.thresholds.memory},
        }


def collect_region(hook: CloudStackHook, *, thresholds: CapacityThresholds | None = None) -> RegionSample:
    """Ask one region for its capacity and VMs, and for its thresholds unless they are given.

    :param thresholds: the region's recorded thresholds while they are fresh; ``None`` reads them.
    :raises meca.cloudstack.errors.CloudStackError: when the region does not answer properly.
    """
    started = time.monotonic()
    capacities = [ZoneCapacity.from_api(item) for item in hook.list("listCapacity")]
    offerings = [Offering.from_api(item) for item in hook.list("listServiceOfferings")]
    vms = hook.list("listVirtualMachines", listall=True, pagesize=PAGE_SIZE)
    read = thresholds is None
    if thresholds is None:
        thresholds = hook.capacity_thresholds()
    calls = (3 if read else 2) + max(1, math.ceil(len(vms) / PAGE_SIZE))
    elapsed_ms = (time.monotonic() - started) * 1000
    return RegionSample(
        region=hook.region,
        capacities=capacities,
        vm_states=dict(Counter(vm.get("state", "Unknown") for vm in vms)),
        offerings=offerings,
        latency_ms=elapsed_ms / calls,
        api_calls=calls,
        thresholds=thresholds,
        thresholds_read=read,
    )
