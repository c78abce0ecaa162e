"""The global settings a region answers in ``listConfigurations`` and that shape its behaviour.

Only the settings the model enforces are known, with CloudStack's name, category, default,
description, scope and type (``DeploymentClusterPlanner.java``, ``CapacityManager.java``):

- ``cluster.cpu.allocated.capacity.disablethreshold`` and
  ``cluster.memory.allocated.capacity.disablethreshold`` (default 0.85): the planner skips a
  cluster (in the simulator: a zone, which has one pod and one cluster) whose allocated CPU or
  memory, with the new VM's, would exceed that share of its total; with no cluster left the
  deploy fails with 533.
- the two ``...notificationthreshold`` settings (0.75): listed and settable, not enforced (they
  only send alerts on a real CloudStack).

A region's values come from its topology (``configurations:``) and change at run time through
``updateConfiguration`` or the admin API (``PATCH /regions/{name}/configurations``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CPU_DISABLE = "cluster.cpu.allocated.capacity.disablethreshold"
MEMORY_DISABLE = "cluster.memory.allocated.capacity.disablethreshold"
CPU_NOTIFY = "cluster.cpu.allocated.capacity.notificationthreshold"
MEMORY_NOTIFY = "cluster.memory.allocated.capacity.notificationthreshold"


@dataclass(frozen=True)
class ConfigKey:
    """One setting as CloudStack declares it (``ConfigKey``).

    :param name: e.g. ``cluster.cpu.allocated.capacity.disablethreshold``.
    :param category: e.g. ``Alert``.
    :param default: the default value, as text.
    :param description: CloudStack's description.
    :param scope: ``cluster``, ``zone`` or ``global`` (lower case, as 4.18+ answers it).
    :param kind: the Java value type, e.g. ``Float``.
    :param component: the component that declares it.
    :param dynamic: whether a change applies without a restart.
    """

    name: str
    category: str
    default: str
    description: str
    scope: str
    kind: str
    component: str
    dynamic: bool = True


def _threshold(name: str, default: str, what: str, disable: bool) -> ConfigKey:
    if disable:
        description = (
            f"Percentage (as a value between 0 and 1) of {what} utilization above which allocators will "
            f"disable using the cluster for low {what} available. Keep the corresponding notification "
            "threshold lower than this to be notified beforehand."
        )
    else:
        description = (
            f"Percentage (as a value between 0 and 1) of {what} utilization above which alerts will be "
            f"sent about low {what} available."
        )
    return ConfigKey(
        name=name,
        category="Alert",
        default=default,
        description=description,
        scope="cluster",
        kind="Float",
        component="DeploymentClusterPlanner" if disable else "CapacityManager",
    )


KEYS: dict[str, ConfigKey] = {
    key.name: key
    for key in (
        _threshold(CPU_DISABLE, "0.85", "cpu", True),
        _threshold(CPU_NOTIFY, "0.75", "cpu", False),
        _threshold(MEMORY_DISABLE, "0.85", "memory", True),
        _threshold(MEMORY_NOTIFY, "0.75", "memory", False),
    )
}


def _between_0_and_1(name: str, value: Any) -> str:
    """The text CloudStack stores for a threshold, refusing what is not a number within 0..1."""
    if isinstance(value, bool):
        raise ValueError(f"Please enter a value between 0 and 1 for the configuration parameter: {name}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Configuration parameter {name} must be a Float, got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"Please enter a value between 0 and 1 for the configuration parameter: {name}")
    return str(value).strip() if isinstance(value, str) else repr(number)


class Settings:
    """The current values of one region's known settings (every key has one, its default at first).

    :param values: name → value to start from (the topology's ``configurations``).
    :raises ValueError: on an unknown name or a value CloudStack would refuse.
    """

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values = {name: key.default for name, key in KEYS.items()}
        self.update(values or {})

    def update(self, values: Mapping[str, Any]) -> None:
        """Change some settings, all or nothing.

        :raises ValueError: naming the unknown setting or the refused value; nothing changes then.
        """
        unknown = sorted(set(values) - set(KEYS))
        if unknown:
            raise ValueError(f"unknown configuration(s) {unknown}; known: {sorted(KEYS)}")
        checked = {name: _between_0_and_1(name, value) for name, value in values.items()}
        self._values.update(checked)

    def value(self, name: str) -> str:
        """The current value of a known setting, as text."""
        return self._values[name]

    def threshold(self, name: str) -> float:
        """A threshold setting as a number."""
        return float(self._values[name])

    def as_dict(self) -> dict[str, str]:
        """Name → value, sorted by name (JSON-ready)."""
        return dict(sorted(self._values.items()))

    def copy(self) -> Settings:
        """An independent copy (for all-or-nothing changes)."""
        return Settings(self._values)

    def response(self, name: str) -> dict[str, Any]:
        """A setting as ``listConfigurations`` shows it.

        The keys of the real 4.15 capture (``category``, ``description``, ``isdynamic``, ``name``,
        ``value``) plus those 4.18+ adds (``defaultvalue``, ``scope``, ``type``, ``component``).
        """
        key = KEYS[name]
        return {
            "category": key.category,
            "name": key.name,
            "value": self._values[name],
            "defaultvalue": key.default,
            "description": key.description,
            "isdynamic": key.dynamic,
            "scope": key.scope,
            "type": key.kind,
            "component": key.component,
        }
