"""What one metrics sweep left in the MECA data tables, for the end-to-end tests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from meca.store import models


def stored_sweep(engine: Engine, sampled_at: datetime) -> tuple[dict[str, str], set[str]]:
    """The sweep health of every region at ``sampled_at``, and the regions with a capacity sample then.

    :param engine: the MECA data database.
    :param sampled_at: the sweep's sample time (its ``finalize`` task returns it).
    :return: (region name -> health status, names of the regions sampled).
    """
    with Session(engine) as session:
        health = dict(
            session.execute(
                select(models.Region.name, models.SweepHealth.status)
                .join(models.Region)
                .where(models.SweepHealth.sampled_at == sampled_at)
            ).all()
        )
        sampled = set(
            session.scalars(
                select(models.Region.name)
                .join(models.CapacitySample, models.CapacitySample.region_id == models.Region.id)
                .where(models.CapacitySample.sampled_at == sampled_at)
            )
        )
    return health, sampled
