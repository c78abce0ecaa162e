"""Time as CloudStack writes it in API answers."""

from __future__ import annotations

from datetime import UTC, datetime


def cs_time(epoch: float) -> str:
    """Format an epoch time like CloudStack does, e.g. ``2021-10-04T09:24:38+0000``.

    :param epoch: seconds since the epoch.
    """
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
