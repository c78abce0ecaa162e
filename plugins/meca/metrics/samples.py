"""Write one sweep's results for a region: replace-by-key, so re-running a sweep rewrites the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from meca.cloudstack.thresholds import CapacityThresholds
from meca.metrics.collect import THRESHOLDS_MAX_AGE, RegionSample
from meca.regions import Region
from meca.store import models
from meca.store.registry import ensure_region, ensure_zone

OK = "ok"
ERROR = "error"
MISSING = "missing"


def _replace_health(
    session: Session,
    region_id: int,
    sampled_at: datetime,
    *,
    status: str,
    latency_ms: float | None = None,
    api_calls: int | None = None,
    error: str | None = None,
) -> None:
    for table in (models.CapacitySample, models.VmCount, models.SweepHealth):
        session.execute(delete(table).where(table.region_id == region_id, table.sampled_at == sampled_at))
    session.add(
        models.SweepHealth(
            region_id=region_id,
            sampled_at=sampled_at,
            status=status,
            latency_ms=latency_ms,
            api_calls=api_calls,
            error=error,
        )
    )


def fresh_thresholds(
    engine: Engine, region: Region, *, now: datetime, max_age: timedelta = THRESHOLDS_MAX_AGE
) -> CapacityThresholds | None:
    """The region's recorded allocation thresholds when read less than ``max_age`` before ``now``."""
    # As a plain datetime: a pendulum time (Airflow's) loses its zone when a timedelta is taken off it.
    cutoff = datetime.fromtimestamp(now.timestamp(), UTC) - max_age
    with Session(engine) as session:
        row = session.execute(
            select(models.CapacityThreshold.cpu, models.CapacityThreshold.memory)
            .join(models.Region, models.Region.id == models.CapacityThreshold.region_id)
            .where(models.Region.name == region.name, models.CapacityThreshold.sampled_at > cutoff)
        ).one_or_none()
    return None if row is None else CapacityThresholds(cpu=row.cpu, memory=row.memory)


def write_sample(engine: Engine, sample: RegionSample, sampled_at: datetime) -> None:
    """Store a region's sample at ``sampled_at``, replacing whatever that sweep stored before."""
    with Session(engine) as session, session.begin():
        region_id = ensure_region(session, sample.region)
        _replace_health(
            session,
            region_id,
            sampled_at,
            status=OK,
            latency_ms=sample.latency_ms,
            api_calls=sample.api_calls,
        )
        zone_ids: dict[str, int] = {}
        for c in sample.capacities:
            if c.zone_name not in zone_ids:
                zone_ids[c.zone_name] = ensure_zone(session, region_id, c.zone_name, c.zone_id)
        session.add_all(
            models.CapacitySample(
                region_id=region_id,
                zone_id=zone_ids[c.zone_name],
                type=c.type,
                sampled_at=sampled_at,
                used=c.used,
                allocated=c.allocated,
                total=c.total,
                percent=c.percent,
            )
            for c in sample.capacities
        )
        session.execute(delete(models.ServiceOffering).where(models.ServiceOffering.region_id == region_id))
        session.add_all(
            models.ServiceOffering(
                region_id=region_id,
                name=o.name,
                cloudstack_id=o.id,
                cpu_number=o.cpu_number,
                cpu_speed_mhz=o.cpu_speed_mhz,
                memory_mib=o.memory_mib,
                updated_at=datetime.now(UTC),
            )
            for o in {o.name: o for o in sample.offerings}.values()
        )
        if sample.thresholds_read:
            session.execute(
                delete(models.CapacityThreshold).where(models.CapacityThreshold.region_id == region_id)
            )
            session.add(
                models.CapacityThreshold(
                    region_id=region_id,
                    cpu=sample.thresholds.cpu,
                    memory=sample.thresholds.memory,
                    sampled_at=sampled_at,
                )
            )
        session.add_all(
            models.VmCount(region_id=region_id, sampled_at=sampled_at, state=state, count=count)
            for state, count in sorted(sample.vm_states.items())
        )


def write_error(engine: Engine, region: Region, sampled_at: datetime, error: str) -> None:
    """Record that ``region`` failed the sweep at ``sampled_at`` (its previous numbers become stale)."""
    with Session(engine) as session, session.begin():
        _replace_health(session, ensure_region(session, region), sampled_at, status=ERROR, error=error)


def mark_missing(engine: Engine, regions: list[Region], sampled_at: datetime) -> list[str]:
    """Record a gap for every region of ``regions`` with no health row at ``sampled_at``.

    A mapped task that never ran (killed worker, upstream failure) leaves no row; this makes the gap
    explicit. :return: the names of the regions marked missing.
    """
    missing: list[str] = []
    with Session(engine) as session, session.begin():
        for region in regions:
            region_id = ensure_region(session, region)
            seen = session.scalar(
                select(models.SweepHealth.status).where(
                    models.SweepHealth.region_id == region_id, models.SweepHealth.sampled_at == sampled_at
                )
            )
            if seen is None:
                _replace_health(
                    session, region_id, sampled_at, status=MISSING, error="no result from the sweep task"
                )
                missing.append(region.name)
    return missing
