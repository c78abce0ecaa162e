"""Keep the ``regions`` and ``zones`` tables in step with the region registry."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from meca.regions import Region
from meca.store import models


def ensure_region(session: Session, region: Region) -> int:
    """Insert or refresh the row of ``region`` (matched by name) and return its id."""
    row = session.scalars(select(models.Region).where(models.Region.name == region.name)).one_or_none()
    if row is None:
        row = models.Region(name=region.name)
        session.add(row)
    row.conn_id = region.conn_id
    row.cloudstack_id = region.region_id
    row.display_name = region.display_name
    row.city = region.city
    row.country = region.country
    row.lat = region.lat
    row.lon = region.lon
    row.colour = region.colour
    row.updated_at = datetime.now(UTC)
    session.flush()
    return row.id


def ensure_zone(session: Session, region_id: int, name: str, cloudstack_id: str | None) -> int:
    """The id of zone ``name`` of region ``region_id``, inserting it the first time it is seen."""
    row = session.scalars(
        select(models.Zone).where(models.Zone.region_id == region_id, models.Zone.name == name)
    ).one_or_none()
    if row is None:
        row = models.Zone(region_id=region_id, name=name, cloudstack_id=cloudstack_id)
        session.add(row)
        session.flush()
    return row.id
