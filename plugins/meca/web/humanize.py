"""Numbers as people read them: bytes as GiB / TiB, CPU MHz as GHz, counts, times and ages."""

from __future__ import annotations

from datetime import datetime

GIB = 1024**3
TIB = 1024**4


def human(value: float, unit: str) -> str:
    """One capacity value as people read it.

    :param value: the value in the capacity type's unit.
    :param unit: ``bytes``, ``MHz`` or ``count`` (see :mod:`meca.cloudstack.capacity`).
    :raises ValueError: for another unit.
    """
    if unit == "bytes":
        if abs(value) >= TIB:
            return f"{value / TIB:.2f} TiB"
        return f"{value / GIB:.1f} GiB"
    if unit == "MHz":
        return f"{value / 1000:.1f} GHz"
    if unit == "count":
        return f"{round(value):,}"
    raise ValueError(f"unknown capacity unit {unit!r} (expected bytes, MHz or count)")


def used_of_total(used: float, total: float, unit: str) -> str:
    """``"used / total"`` in human units, e.g. ``"12.0 GiB / 64.0 GiB"``."""
    return f"{human(used, unit)} / {human(total, unit)}"


def percent(used: float, total: float) -> float | None:
    """``used`` as a percentage of ``total``, or ``None`` when the total is zero."""
    return None if total == 0 else 100.0 * used / total


def age(seconds: float) -> str:
    """A duration, coarsely: ``"45 s"``, ``"12 min"``, ``"3 h 5 min"``, ``"2 d 4 h"``."""
    whole = max(int(seconds), 0)
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def utc(at: datetime | None) -> str:
    """A time as ``2026-11-22 10:05 UTC`` (``"never"`` for ``None``)."""
    return "never" if at is None else f"{at:%Y-%m-%d %H:%M} UTC"
