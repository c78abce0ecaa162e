"""Faults injected into one simulated region; shared by the HTTP layer and the cloud model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Faults:
    """What goes wrong in a region. Set in the topology, changed at run time through the admin API.

    :param latency_s: extra seconds added before every API answer.
    :param down: the region's port refuses connections (its listener is closed).
    :param error_rate: probability (0..1) that a request gets an HTTP 5xx (530) answer.
    :param job_slowdown: multiplier on every async job's duration.
    :param deploy_failure_rate: probability (0..1) that a deployVirtualMachine job fails.
    :param template_download_failure: registerTemplate downloads end in an error status.
    """

    latency_s: float = 0.0
    down: bool = False
    error_rate: float = 0.0
    job_slowdown: float = 1.0
    deploy_failure_rate: float = 0.0
    template_download_failure: bool = False

    @classmethod
    def from_mapping(cls, data: dict[str, Any] | None) -> Faults:
        """Build from a topology or admin-API mapping, refusing unknown keys."""
        faults = cls()
        faults.update(data or {})
        return faults

    def update(self, data: dict[str, Any]) -> None:
        """Change some faults in place, validating names and ranges.

        :raises ValueError: on an unknown name or a value out of range.
        """
        known = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; known: {sorted(known)}")
        for name, value in data.items():
            current = getattr(self, name)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"fault {name} must be true or false, got {value!r}")
            else:
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise ValueError(f"fault {name} must be a number, got {value!r}") from None
                if value < 0 or (name.endswith("_rate") and value > 1):
                    raise ValueError(f"fault {name} out of range: {value}")
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)
