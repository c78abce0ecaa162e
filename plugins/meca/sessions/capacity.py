"""What a region can give a session: its free memory and CPU, the offering's size, its template.

Capacity comes from the latest successful sweep in the MECA data database (zones summed); when the
sweep has no data for a region, the region is asked directly (``listCapacity``,
``listConfigurations`` and ``listServiceOfferings``). Whether the template is Ready is asked from
the region (``listTemplates templatefilter=executable``).

Free capacity is what CloudStack will still place: per zone (a cluster to its planner)
``threshold * total - max(used, allocated)``, never below 0, zones summed, where ``threshold`` is the
region's ``cluster.cpu/memory.allocated.capacity.disablethreshold`` (recorded by the sweep; 0.85,
CloudStack's default, when none was recorded). A region at 84 % allocated offers only what fits
under 85 %.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select

from meca.cloudstack.hook import CloudStackHook
from meca.cloudstack.thresholds import CapacityThresholds
from meca.metrics.collect import Offering, ZoneCapacity
from meca.metrics.samples import OK
from meca.regions import Region
from meca.store import models

MEMORY = 0
CPU = 1
MIB = 1024 * 1024


@dataclass(frozen=True)
class OfferingSize:
    """What one VM of a service offering takes: memory in bytes and CPU in MHz."""

    name: str
    memory_bytes: int
    cpu_mhz: int

    @classmethod
    def of(cls, name: str, cpu_number: int, cpu_speed_mhz: int, memory_mib: int) -> OfferingSize:
        """The size of an offering described the CloudStack way (vCPUs, MHz per vCPU, MiB)."""
        return cls(name=name, memory_bytes=memory_mib * MIB, cpu_mhz=cpu_number * cpu_speed_mhz)


@dataclass(frozen=True)
class RegionCapacity:
    """A region's free memory (bytes) and CPU (MHz) under its allocation thresholds, and their origin.

    :param source: ``"sweep"`` (the MECA data database) or ``"region"`` (asked directly).
    :param thresholds: the allocation disable thresholds the free figures are computed under.
    """

    memory_bytes: int
    cpu_mhz: int
    measured_at: datetime
    source: str
    thresholds: CapacityThresholds = field(default_factory=CapacityThresholds)

    def fits(self, size: OfferingSize, memory_used: int = 0, cpu_used: int = 0) -> int:
        """How many VMs of ``size`` fit in what is left after ``memory_used`` and ``cpu_used``."""
        memory_left = self.memory_bytes - memory_used
        cpu_left = self.cpu_mhz - cpu_used
        if memory_left <= 0 or cpu_left <= 0:
            return 0
        by_memory = memory_left // size.memory_bytes if size.memory_bytes else memory_left
        by_cpu = cpu_left // size.cpu_mhz if size.cpu_mhz else cpu_left
        return int(min(by_memory, by_cpu))


@dataclass(frozen=True)
class RegionChoiceInput:
    """What the ledger needs to know about one region to book a session there.

    :param region: the region (from the registry).
    :param capacity: its free capacity, or ``None`` when it could not be learnt.
    :param offering: the size of the requested offering there, or ``None`` when it has no such offering.
    :param template_ready: whether the requested template is Ready there.
    :param full_alert: the rule of an open alert marking the region full, or ``None``.
    :param problem: why the region could not be asked, or ``None``.
    :param templates: the names of the templates Ready there (to answer an unknown name with them).
    :param offerings: the names of its service offerings.
    """

    region: Region
    capacity: RegionCapacity | None
    offering: OfferingSize | None
    template_ready: bool
    full_alert: str | None = None
    problem: str | None = None
    templates: tuple[str, ...] = ()
    offerings: tuple[str, ...] = ()


def _free(
    rows: Iterable[tuple[int, int, int, int | None]], thresholds: CapacityThresholds | None = None
) -> dict[int, int]:
    """Free capacity per type from ``(type, total, used, allocated)`` rows of zones, zones summed.

    Memory and CPU count under their threshold (``threshold * total - max(used, allocated)``); a
    zone past it gives 0, not less. Other types count up to their total.

    :param rows: one row per zone and type.
    :param thresholds: the region's allocation disable thresholds (CloudStack's defaults when ``None``).
    """
    thresholds = thresholds or CapacityThresholds()
    shares = {MEMORY: thresholds.memory, CPU: thresholds.cpu}
    free: dict[int, int] = {}
    for kind, total, used, allocated in rows:
        under = int(shares.get(kind, 1.0) * total)
        free[kind] = free.get(kind, 0) + max(0, under - max(used, allocated or 0))
    return free


def swept_thresholds(connection: Connection, region_name: str) -> CapacityThresholds:
    """The region's allocation disable thresholds the sweep last recorded (CloudStack's defaults without)."""
    row = connection.execute(
        select(models.CapacityThreshold.cpu, models.CapacityThreshold.memory)
        .join(models.Region, models.Region.id == models.CapacityThreshold.region_id)
        .where(models.Region.name == region_name)
    ).one_or_none()
    if row is None:
        return CapacityThresholds()
    return CapacityThresholds(cpu=row.cpu, memory=row.memory)


def swept_capacity(connection: Connection, region_name: str) -> RegionCapacity | None:
    """The region's free memory and CPU at its latest successful sweep, or ``None`` without one."""
    latest = connection.scalar(
        select(func.max(models.SweepHealth.sampled_at))
        .join(models.Region, models.Region.id == models.SweepHealth.region_id)
        .where(models.Region.name == region_name, models.SweepHealth.status == OK)
    )
    if latest is None:
        return None
    sample = models.CapacitySample
    rows = connection.execute(
        select(sample.type, sample.total, sample.used, sample.allocated)
        .join(models.Region, models.Region.id == sample.region_id)
        .where(
            models.Region.name == region_name,
            sample.sampled_at == latest,
            sample.type.in_((MEMORY, CPU)),
        )
    ).all()
    thresholds = swept_thresholds(connection, region_name)
    free = _free(((row.type, row.total, row.used, row.allocated) for row in rows), thresholds)
    if MEMORY not in free or CPU not in free:
        return None
    return RegionCapacity(free[MEMORY], free[CPU], measured_at=latest, source="sweep", thresholds=thresholds)


def swept_offering(connection: Connection, region_name: str, offering: str) -> OfferingSize | None:
    """The size of ``offering`` in the region as the sweep last saw it, or ``None``."""
    row = connection.execute(
        select(models.ServiceOffering)
        .join(models.Region, models.Region.id == models.ServiceOffering.region_id)
        .where(models.Region.name == region_name, models.ServiceOffering.name == offering)
    ).one_or_none()
    if row is None:
        return None
    return OfferingSize.of(offering, row.cpu_number, row.cpu_speed_mhz, row.memory_mib)


def swept_offerings(connection: Connection, region_name: str) -> tuple[str, ...]:
    """The names of the region's service offerings as the sweep last saw them, sorted."""
    names = connection.scalars(
        select(models.ServiceOffering.name)
        .join(models.Region, models.Region.id == models.ServiceOffering.region_id)
        .where(models.Region.name == region_name)
    ).all()
    return tuple(sorted(names))


def full_alerts(connection: Connection) -> dict[str, str]:
    """Region name → rule of an open alert that marks the region full."""
    rows = connection.execute(
        select(models.Region.name, models.Alert.rule)
        .join(models.Region, models.Region.id == models.Alert.region_id)
        .where(models.Alert.marks_full.is_(True), models.Alert.cleared_at.is_(None))
        .order_by(models.Alert.opened_at)
    ).all()
    return {name: rule for name, rule in rows}


def asked_capacity(hook: CloudStackHook) -> RegionCapacity:
    """The region's free memory and CPU, asked with ``listCapacity`` and ``listConfigurations``.

    The fallback without a sweep: the thresholds are read live too.

    :raises meca.cloudstack.errors.CloudStackError: when the region does not answer.
    """
    zones = [ZoneCapacity.from_api(item) for item in hook.list("listCapacity")]
    thresholds = hook.capacity_thresholds()
    free = _free(((z.type, z.total, z.used, z.allocated) for z in zones), thresholds)
    return RegionCapacity(
        free.get(MEMORY, 0),
        free.get(CPU, 0),
        measured_at=datetime.now(UTC),
        source="region",
        thresholds=thresholds,
    )


def asked_offering(hook: CloudStackHook, offering: str) -> OfferingSize | None:
    """The size of ``offering`` asked with ``listServiceOfferings``, or ``None`` when it has none."""
    for item in hook.list("listServiceOfferings", name=offering):
        found = Offering.from_api(item)
        if found.name == offering:
            return OfferingSize.of(offering, found.cpu_number, found.cpu_speed_mhz, found.memory_mib)
    return None


def asked_offerings(hook: CloudStackHook) -> tuple[str, ...]:
    """The names of the region's service offerings, asked with ``listServiceOfferings``, sorted."""
    items = hook.list("listServiceOfferings")
    return tuple(sorted({str(item["name"]) for item in items if item.get("name")}))


def ready_templates(hook: CloudStackHook) -> tuple[str, ...]:
    """The names of the executable templates Ready in the region (``listTemplates``), sorted."""
    items = hook.list("listTemplates", templatefilter="executable")
    return tuple(sorted({str(item["name"]) for item in items if item.get("isready") and item.get("name")}))
