"""What the monitoring rules look at: each region's last sweeps (health and region totals per type)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meca.metrics.samples import OK
from meca.store import models


@dataclass(frozen=True)
class Reading:
    """One region at one sweep.

    :param sampled_at: the sweep's sample time.
    :param status: ``ok``, ``error`` or ``missing`` (see :mod:`meca.metrics.samples`).
    :param error: the error of a failed sweep.
    :param totals: per capacity type, the region's ``(used, total)`` (zones summed); empty unless ok.
    """

    sampled_at: datetime
    status: str
    error: str | None = None
    totals: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        """Whether the region answered this sweep."""
        return self.status == OK


@dataclass(frozen=True)
class RegionHistory:
    """A region's readings at the last sweeps, newest first.

    :param region_id: the region's id in the data database.
    :param region: the region's name.
    :param latest: the reading at the evaluated sample time.
    :param earlier: one entry per earlier sweep time, newest first; ``None`` where it has no health row.
    """

    region_id: int
    region: str
    latest: Reading
    earlier: list[Reading | None]

    def window(self, count: int) -> list[Reading | None]:
        """The last ``count`` readings (fewer when the history is shorter), newest first."""
        return [self.latest, *self.earlier[: count - 1]]


def recent_history(
    session: Session, sampled_at: datetime, depth: int, types: Collection[int]
) -> list[RegionHistory]:
    """The last ``depth`` sweeps up to ``sampled_at`` of every region swept at ``sampled_at``.

    :param session: a session on the MECA data database.
    :param sampled_at: the sample time being evaluated.
    :param depth: how many sweep times to read (the sweeps of the whole federation, newest first).
    :param types: the capacity types whose region totals are needed.
    """
    health = models.SweepHealth
    times = list(
        session.scalars(
            select(health.sampled_at)
            .where(health.sampled_at <= sampled_at)
            .distinct()
            .order_by(health.sampled_at.desc())
            .limit(depth)
        )
    )
    if not times or times[0] != sampled_at:
        return []
    totals: dict[tuple[int, datetime], dict[int, tuple[int, int]]] = {}
    if types:
        sample = models.CapacitySample
        sums = session.execute(
            select(
                sample.region_id,
                sample.sampled_at,
                sample.type,
                func.sum(sample.used),
                func.sum(sample.total),
            )
            .where(sample.sampled_at.in_(times), sample.type.in_(sorted(types)))
            .group_by(sample.region_id, sample.sampled_at, sample.type)
        )
        for region_id, at, capacity_type, used, total in sums:
            totals.setdefault((region_id, at), {})[capacity_type] = (int(used), int(total))
    readings: dict[tuple[int, str], dict[datetime, Reading]] = {}
    rows = session.execute(
        select(models.Region.id, models.Region.name, health.sampled_at, health.status, health.error)
        .join(models.Region, models.Region.id == health.region_id)
        .where(health.sampled_at.in_(times))
    )
    for region_id, name, at, status, error in rows:
        readings.setdefault((region_id, name), {})[at] = Reading(
            sampled_at=at, status=status, error=error, totals=totals.get((region_id, at), {})
        )
    return [
        RegionHistory(
            region_id=region_id,
            region=name,
            latest=by_time[sampled_at],
            earlier=[by_time.get(at) for at in times[1:]],
        )
        for (region_id, name), by_time in sorted(readings.items(), key=lambda item: item[0][1])
        if sampled_at in by_time
    ]
