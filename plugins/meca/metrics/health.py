"""Which regions the sweep could not read at a given sample time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from meca.metrics.samples import OK
from meca.store import models


def stale_regions(engine: Engine, sampled_at: datetime) -> dict[str, str]:
    """``{region name: error}`` for every region whose health at ``sampled_at`` is not ``ok``."""
    with Session(engine) as session:
        rows = session.execute(
            select(models.Region.name, models.SweepHealth.status, models.SweepHealth.error)
            .join(models.Region, models.Region.id == models.SweepHealth.region_id)
            .where(models.SweepHealth.sampled_at == sampled_at, models.SweepHealth.status != OK)
        ).all()
    return {name: f"{status}: {error}" for name, status, error in rows}
