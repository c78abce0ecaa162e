"""Read-only queries of the MECA data database behind the dashboard, the JSON API and ``/metrics``.

A region's current numbers are its latest successful sample (sweep health ``ok``) with its zones
summed. A region is *stale* when its latest sweep did not succeed, or when its latest successful
sample is older than :data:`STALE_AFTER` (two sweep intervals); its last known numbers are still
shown, marked. History comes from the raw samples (24 h), the hourly rollups (7 days) or the daily
rollups (30 days).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, Subquery, and_, func, select
from sqlalchemy.orm import Session

from meca.cloudstack.capacity import BY_TYPE, DASHBOARD_TYPES
from meca.metrics import SWEEP_INTERVAL
from meca.store import models
from meca.web.humanize import percent

#: A region whose latest successful sample is older than this is stale.
STALE_AFTER = 2 * SWEEP_INTERVAL
MIB = 1024**2


@dataclass(frozen=True)
class Capacity:
    """A capacity type of a region (zones summed) or of the federation (regions summed).

    :param type: the CloudStack capacity type number.
    :param used: used capacity, in ``unit``.
    :param total: total capacity, in ``unit``.
    """

    type: int
    used: int
    total: int

    @property
    def name(self) -> str:
        """The CloudStack name of the type, e.g. ``MEMORY``."""
        return BY_TYPE[self.type].name if self.type in BY_TYPE else f"TYPE_{self.type}"

    @property
    def label(self) -> str:
        """What the dashboard calls the type, e.g. ``Management IP addresses``."""
        return BY_TYPE[self.type].label if self.type in BY_TYPE else f"Capacity type {self.type}"

    @property
    def unit(self) -> str:
        """``bytes``, ``MHz`` or ``count``."""
        return BY_TYPE[self.type].unit if self.type in BY_TYPE else "count"

    @property
    def percent(self) -> float | None:
        """Used as a percentage of total (``None`` when the total is zero)."""
        return percent(self.used, self.total)

    @property
    def free(self) -> int:
        """Total minus used, never below zero."""
        return max(self.total - self.used, 0)


@dataclass(frozen=True)
class RegionStatus:
    """A region's current numbers and sweep health.

    :param name: the CloudStack region name.
    :param last_sample_at: when the numbers shown were sampled (latest ``ok`` sweep), if ever.
    :param last_sweep_at: the latest sweep of the region, whatever its outcome.
    :param status: the outcome of that sweep: ``ok``, ``error`` or ``missing`` (``None``: never swept).
    :param last_error: the error of that sweep when it did not succeed.
    :param stale: whether the numbers shown are not current (see the module docstring).
    :param age_s: seconds between ``last_sample_at`` and now.
    :param capacities: the latest successful sample per capacity type, zones summed.
    :param vm_states: how many VMs were in each state at ``last_sample_at``.
    """

    name: str
    display_name: str
    colour: str
    city: str | None
    country: str | None
    last_sample_at: datetime | None
    last_sweep_at: datetime | None
    status: str | None
    last_error: str | None
    stale: bool
    age_s: float | None
    capacities: dict[int, Capacity] = field(default_factory=dict)
    vm_states: dict[str, int] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        """The region answered its latest sweep and that sweep is recent."""
        return not self.stale


@dataclass(frozen=True)
class Seats:
    """How many more VMs of a service offering fit in a region.

    :param seats: ``min(free memory / offering memory, free CPU MHz / (cpu_number * cpu_speed))``,
        rounded down; the region's zones are summed, so it is an upper bound.
    :param limited_by: ``memory`` or ``cpu``: the resource that runs out first.
    """

    region: str
    offering: str
    cpu_number: int
    cpu_speed_mhz: int
    memory_mib: int
    seats: int
    limited_by: str


@dataclass(frozen=True)
class OpenAlert:
    """An alert raised by a monitoring rule and not cleared yet."""

    id: int
    rule: str
    region: str
    severity: str
    message: str
    value: float | None
    marks_full: bool
    opened_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class Point:
    """One point of a history chart: a region total at a time (a mean over the bucket for rollups)."""

    at: datetime
    used: float
    total: float

    @property
    def percent(self) -> float | None:
        """Used as a percentage of total."""
        return percent(self.used, self.total)


@dataclass(frozen=True)
class Series:
    """The history of one capacity type of one region."""

    region: str
    colour: str
    points: list[Point]


@dataclass(frozen=True)
class Window:
    """A history window and the table it is read from (``raw``, ``hourly`` or ``daily``)."""

    key: str
    span: timedelta
    source: str


WINDOWS: dict[str, Window] = {
    w.key: w
    for w in (
        Window("24h", timedelta(hours=24), "raw"),
        Window("7d", timedelta(days=7), "hourly"),
        Window("30d", timedelta(days=30), "daily"),
    )
}


def _latest_ok_samples() -> Subquery:
    """``(region_id, at)``: the time of each region's latest successful sweep."""
    h = models.SweepHealth
    return (
        select(h.region_id, func.max(h.sampled_at).label("at"))
        .where(h.status == "ok")
        .group_by(h.region_id)
        .subquery("latest_ok")
    )


def region_statuses(
    engine: Engine, now: datetime, *, stale_after: timedelta = STALE_AFTER
) -> list[RegionStatus]:
    """Every known region with its current numbers and health, in CloudStack region id order.

    :param now: the current time (aware); ages and staleness are measured from it.
    :param stale_after: how old the latest successful sample may be before the region is stale.
    """
    h, s, r = models.SweepHealth, models.CapacitySample, models.Region
    latest_ok = _latest_ok_samples()
    latest_any = select(h.region_id, func.max(h.sampled_at).label("at")).group_by(h.region_id).subquery()
    with engine.connect() as connection:
        regions = connection.execute(
            select(r.id, r.name, r.display_name, r.colour, r.city, r.country).order_by(
                r.cloudstack_id, r.name
            )
        ).all()
        health = {
            row.region_id: row
            for row in connection.execute(
                select(h.region_id, h.sampled_at, h.status, h.error).join(
                    latest_any, and_(h.region_id == latest_any.c.region_id, h.sampled_at == latest_any.c.at)
                )
            )
        }
        sampled = dict(connection.execute(select(latest_ok.c.region_id, latest_ok.c.at)).tuples().all())
        capacities: dict[int, dict[int, Capacity]] = {}
        for region_id, kind, used, total in connection.execute(
            select(s.region_id, s.type, func.sum(s.used), func.sum(s.total))
            .join(latest_ok, and_(s.region_id == latest_ok.c.region_id, s.sampled_at == latest_ok.c.at))
            .group_by(s.region_id, s.type)
        ):
            capacities.setdefault(region_id, {})[kind] = Capacity(kind, int(used), int(total))
        v = models.VmCount
        vm_states: dict[int, dict[str, int]] = {}
        for region_id, state, count in connection.execute(
            select(v.region_id, v.state, v.count).join(
                latest_ok, and_(v.region_id == latest_ok.c.region_id, v.sampled_at == latest_ok.c.at)
            )
        ):
            vm_states.setdefault(region_id, {})[state] = count
    out = []
    for region in regions:
        last = health.get(region.id)
        sampled_at = sampled.get(region.id)
        status = last.status if last else None
        out.append(
            RegionStatus(
                name=region.name,
                display_name=region.display_name,
                colour=region.colour or "#6c757d",
                city=region.city,
                country=region.country,
                last_sample_at=sampled_at,
                last_sweep_at=last.sampled_at if last else None,
                status=status,
                last_error=last.error if last and status != "ok" else None,
                stale=status != "ok" or sampled_at is None or now - sampled_at > stale_after,
                age_s=None if sampled_at is None else (now - sampled_at).total_seconds(),
                capacities=capacities.get(region.id, {}),
                vm_states=vm_states.get(region.id, {}),
            )
        )
    return out


def federation_totals(regions: Iterable[RegionStatus]) -> dict[int, Capacity]:
    """The regions' current numbers summed per capacity type (stale regions at their last known value)."""
    used: dict[int, int] = {}
    total: dict[int, int] = {}
    for region in regions:
        for kind, capacity in region.capacities.items():
            used[kind] = used.get(kind, 0) + capacity.used
            total[kind] = total.get(kind, 0) + capacity.total
    return {kind: Capacity(kind, used[kind], total[kind]) for kind in sorted(used)}


def dashboard_capacities(capacities: dict[int, Capacity]) -> list[Capacity]:
    """The seven tiles of the seed deck, in its order (a type never reported shows as 0 / 0)."""
    return [capacities.get(kind, Capacity(kind, 0, 0)) for kind in DASHBOARD_TYPES]


def seats_for(region: RegionStatus, offering: models.ServiceOffering) -> Seats | None:
    """How many more VMs of ``offering`` fit in ``region``; ``None`` without memory or CPU numbers."""
    memory, cpu = region.capacities.get(0), region.capacities.get(1)
    vm_memory = offering.memory_mib * MIB
    vm_mhz = offering.cpu_number * offering.cpu_speed_mhz
    if memory is None or cpu is None or vm_memory <= 0 or vm_mhz <= 0:
        return None
    by_memory, by_cpu = memory.free // vm_memory, cpu.free // vm_mhz
    return Seats(
        region=region.name,
        offering=offering.name,
        cpu_number=offering.cpu_number,
        cpu_speed_mhz=offering.cpu_speed_mhz,
        memory_mib=offering.memory_mib,
        seats=min(by_memory, by_cpu),
        limited_by="memory" if by_memory <= by_cpu else "cpu",
    )


def seats_left(engine: Engine, regions: Iterable[RegionStatus]) -> list[Seats]:
    """Seats left per region and service offering, from each region's current numbers."""
    by_name = {region.name: region for region in regions}
    o, r = models.ServiceOffering, models.Region
    with Session(engine) as session:
        rows = session.execute(
            select(r.name, o).join(r, r.id == o.region_id).where(r.name.in_(by_name)).order_by(o.memory_mib)
        ).all()
    seats = (seats_for(by_name[name], offering) for name, offering in rows)
    return [s for s in seats if s is not None]


def open_alerts(engine: Engine, region: str | None = None) -> list[OpenAlert]:
    """Alerts not cleared yet, newest first; only those of ``region`` when given."""
    a, r = models.Alert, models.Region
    query = select(a, r.name).join(r, r.id == a.region_id).where(a.cleared_at.is_(None))
    if region is not None:
        query = query.where(r.name == region)
    with Session(engine) as session:
        rows = session.execute(query.order_by(a.opened_at.desc(), a.id.desc())).all()
    return [
        OpenAlert(
            id=alert.id,
            rule=alert.rule,
            region=name,
            severity=alert.severity,
            message=alert.message,
            value=alert.value,
            marks_full=bool(alert.marks_full),
            opened_at=alert.opened_at,
            last_seen_at=alert.last_seen_at,
        )
        for alert, name in rows
    ]


def history(
    engine: Engine, kind: int, window: Window, now: datetime, *, region: str | None = None
) -> list[Series]:
    """The history of capacity type ``kind`` per region over ``window`` (regions without points omitted).

    Raw samples are summed over zones per sample; rollups give the bucket's mean used and max total.
    """
    r = models.Region
    since = now - window.span
    if window.source == "raw":
        s = models.CapacitySample
        query = (
            select(s.region_id, s.sampled_at, func.sum(s.used), func.sum(s.total))
            .where(s.type == kind, s.sampled_at >= since)
            .group_by(s.region_id, s.sampled_at)
            .order_by(s.sampled_at)
        )
    else:
        rollup = models.CapacityHourly if window.source == "hourly" else models.CapacityDaily
        query = (
            select(rollup.region_id, rollup.bucket, rollup.used_mean, rollup.total_max)
            .where(rollup.type == kind, rollup.bucket >= since)
            .order_by(rollup.bucket)
        )
    regions_query = select(r.id, r.name, r.colour).order_by(r.cloudstack_id, r.name)
    if region is not None:
        regions_query = regions_query.where(r.name == region)
    with engine.connect() as connection:
        regions = connection.execute(regions_query).all()
        points: dict[int, list[Point]] = {}
        for region_id, at, used, total in connection.execute(query):
            points.setdefault(region_id, []).append(Point(at, float(used), float(total)))
    return [
        Series(region=name, colour=colour or "#6c757d", points=points[region_id])
        for region_id, name, colour in regions
        if region_id in points
    ]
