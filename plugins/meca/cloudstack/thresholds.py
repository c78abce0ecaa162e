"""CloudStack's allocation disable thresholds: the share of a cluster's CPU and memory it allocates.

Past ``cluster.cpu.allocated.capacity.disablethreshold`` or
``cluster.memory.allocated.capacity.disablethreshold`` (default 0.85 each) of a cluster's total,
CloudStack's planner no longer places VMs there and a deploy fails with 533. Seats are therefore
counted under these shares of a region's total, not under 100 %.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CPU_DISABLE = "cluster.cpu.allocated.capacity.disablethreshold"
MEMORY_DISABLE = "cluster.memory.allocated.capacity.disablethreshold"
#: What ``listConfigurations keyword=`` matches to list both thresholds in one call.
KEYWORD = "allocated.capacity.disablethreshold"
DEFAULT = 0.85


@dataclass(frozen=True)
class CapacityThresholds:
    """A region's CPU and memory allocation disable thresholds, as shares (0..1) of its total.

    :param cpu: ``cluster.cpu.allocated.capacity.disablethreshold``.
    :param memory: ``cluster.memory.allocated.capacity.disablethreshold``.
    """

    cpu: float = DEFAULT
    memory: float = DEFAULT

    @classmethod
    def from_api(cls, items: Iterable[dict[str, Any]]) -> CapacityThresholds:
        """The thresholds in ``listConfigurations`` items; a missing or unreadable one keeps its default.

        :param items: ``configuration`` objects (``name``, ``value`` as text).
        """
        values = {CPU_DISABLE: DEFAULT, MEMORY_DISABLE: DEFAULT}
        for item in items:
            name = item.get("name")
            if name in values:
                values[name] = _share(item.get("value"))
        return cls(cpu=values[CPU_DISABLE], memory=values[MEMORY_DISABLE])

    def percent(self) -> str:
        """The thresholds for a message: ``85 %``, or ``CPU 90 %, memory 85 %`` when they differ."""
        if self.cpu == self.memory:
            return f"{self.cpu * 100:g} %"
        return f"CPU {self.cpu * 100:g} %, memory {self.memory * 100:g} %"


def _share(value: Any) -> float:
    """A threshold value as CloudStack stores it (text), within 0..1; the default when unreadable."""
    try:
        share = float(value)
    except (TypeError, ValueError):
        return DEFAULT
    return share if 0.0 <= share <= 1.0 else DEFAULT
