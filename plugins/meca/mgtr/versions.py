"""Order template versions: ``01.00.10.00`` after ``01.00.9.00``.

Versions compare part by part (``.``, ``-`` or ``_`` separated), numerically when a part is a
number; numeric parts sort before text parts.
"""

from __future__ import annotations

import re

_SPLIT = re.compile(r"[.\-_]")


def version_sort_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key of a version string.

    :param version: e.g. ``01.00.10.00``.
    """
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in _SPLIT.split(version))
