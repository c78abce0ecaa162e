"""The booking rules of ``include/sessions.yaml``: limits, lead time and home regions.

The file is read when :func:`load_config` is called, never at import. Every key is optional; a
missing file means the defaults below. The home region of an owner is looked up by the owner's
exact name first, then by the institution: the part after ``@`` of an e-mail address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

#: The form's ceiling for the number of instances; ``max_instances`` may only lower it.
INSTANCES_CEILING = 100
#: The form's ceiling for the weekly recurrence; ``max_recurrence_weeks`` may only lower it.
RECURRENCE_CEILING = 52
DEFAULT_PATH = Path(__file__).resolve().parents[3] / "include" / "sessions.yaml"
_KEYS = frozenset(
    {
        "max_instances",
        "max_duration_hours",
        "lead_time_minutes",
        "max_recurrence_weeks",
        "max_advance_days",
        "home_regions",
    }
)


class InvalidSessionsConfig(ValueError):
    """``include/sessions.yaml`` cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class SessionsConfig:
    """The booking rules.

    :param max_instances: the most VMs one session may ask for.
    :param max_duration: the longest session.
    :param lead_time: how long before the start the VMs are provisioned (and capacity is held).
    :param max_recurrence_weeks: the most further weekly occurrences of one booking.
    :param max_advance: how far ahead a session may start.
    :param home_owners: owner name (e.g. an e-mail address) → home region name.
    :param home_institutions: institution (the e-mail domain, e.g. ``polito.it``) → home region name.
    """

    max_instances: int = 40
    max_duration: timedelta = timedelta(hours=8)
    lead_time: timedelta = timedelta(minutes=10)
    max_recurrence_weeks: int = 15
    max_advance: timedelta = timedelta(days=365)
    home_owners: Mapping[str, str] = field(default_factory=dict)
    home_institutions: Mapping[str, str] = field(default_factory=dict)

    def home_region(self, owner: str) -> str | None:
        """The home region of ``owner``: by name, else by institution (e-mail domain), else ``None``."""
        if owner in self.home_owners:
            return self.home_owners[owner]
        _, at, domain = owner.rpartition("@")
        return self.home_institutions.get(domain.lower()) if at else None


def load_config(path: Path | str = DEFAULT_PATH) -> SessionsConfig:
    """Read and validate the sessions file; a missing file gives the defaults.

    :param path: the YAML file.
    :raises InvalidSessionsConfig: naming the file and the key at fault.
    """
    path = Path(path)
    if not path.exists():
        return SessionsConfig()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidSessionsConfig(f"sessions config {path}: cannot be read: {exc}") from exc
    try:
        return parse_config(document or {})
    except ValueError as exc:
        raise InvalidSessionsConfig(f"sessions config {path}: {exc}") from exc


def parse_config(document: Any) -> SessionsConfig:
    """Validate a decoded sessions document.

    :param document: the decoded YAML mapping.
    :raises ValueError: naming the key at fault.
    """
    if not isinstance(document, Mapping):
        raise ValueError(f"expected a mapping, got {document!r}")
    unknown = set(document) - _KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} (allowed: {sorted(_KEYS)})")
    defaults = SessionsConfig()
    homes = document.get("home_regions") or {}
    if not isinstance(homes, Mapping) or set(homes) - {"owners", "institutions"}:
        raise ValueError("'home_regions' must be a mapping with 'owners' and/or 'institutions'")
    return SessionsConfig(
        max_instances=_whole(document, "max_instances", defaults.max_instances, 1, INSTANCES_CEILING),
        max_duration=timedelta(
            hours=_number(document, "max_duration_hours", defaults.max_duration / timedelta(hours=1))
        ),
        lead_time=timedelta(
            minutes=_number(
                document, "lead_time_minutes", defaults.lead_time / timedelta(minutes=1), zero_ok=True
            )
        ),
        max_recurrence_weeks=_whole(
            document, "max_recurrence_weeks", defaults.max_recurrence_weeks, 0, RECURRENCE_CEILING
        ),
        max_advance=timedelta(days=_number(document, "max_advance_days", defaults.max_advance.days)),
        home_owners=_names(homes.get("owners"), "home_regions.owners", lower=False),
        home_institutions=_names(homes.get("institutions"), "home_regions.institutions", lower=True),
    )


def _whole(document: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = document.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"'{key}' must be a whole number from {low} to {high} (got {value!r})")
    return value


def _number(document: Mapping[str, Any], key: str, default: float, *, zero_ok: bool = False) -> float:
    value = document.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value < 0
        or (value == 0 and not zero_ok)
    ):
        bound = ">= 0" if zero_ok else "> 0"
        raise ValueError(f"'{key}' must be a number {bound} (got {value!r})")
    return float(value)


def _names(value: Any, key: str, *, lower: bool) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        raise ValueError(f"'{key}' must map names to region names (non-empty strings)")
    return {(k.lower() if lower else k): v for k, v in value.items()}
