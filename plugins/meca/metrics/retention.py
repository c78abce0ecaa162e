"""Retention of the MECA data: raw samples for a configurable number of days, rollups much longer.

- Raw rows (``capacity_samples``, ``vm_counts``, ``sweep_health``) are kept ``raw_days`` days (the
  Airflow Variable ``meca_raw_retention_days``, default 35), counted back from the start of the
  current UTC day: whole days are deleted, never part of one, so a daily bucket is always complete
  or gone from the raw tables.
- Before raw rows are deleted their hours and days are rolled up again, in the same transaction:
  no raw row leaves the database before its hour is in ``capacity_hourly``.
- ``capacity_hourly`` is kept ``hourly_days`` days (default 400); ``capacity_daily`` forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, func, select

from meca.metrics.rollups import DAILY, roll_up_period
from meca.store import models

RAW_RETENTION_VARIABLE = "meca_raw_retention_days"
DEFAULT_RAW_DAYS = 35
DEFAULT_HOURLY_DAYS = 400

_RAW_TABLES = (models.CapacitySample, models.VmCount, models.SweepHealth)


@dataclass(frozen=True)
class RetentionResult:
    """What one application of the retention did.

    :param raw_cutoff: raw rows sampled before this time were deleted.
    :param hourly_cutoff: hourly buckets starting before this time were deleted.
    :param deleted: rows deleted per table.
    """

    raw_cutoff: datetime
    hourly_cutoff: datetime
    deleted: dict[str, int] = field(default_factory=dict)


def raw_retention_days() -> int:
    """The raw retention in days: Airflow Variable ``meca_raw_retention_days``, default 35.

    Read when called (in the task), never at DAG parse time.

    :raises ValueError: when the Variable is not a whole number of at least 1.
    """
    from airflow.sdk import Variable

    value = Variable.get(RAW_RETENTION_VARIABLE, default=str(DEFAULT_RAW_DAYS))
    try:
        days = int(str(value).strip())
    except ValueError:
        days = 0
    if days < 1:
        raise ValueError(
            f"Airflow Variable {RAW_RETENTION_VARIABLE} must be a whole number of days >= 1 (got {value!r})"
        )
    return days


def apply_retention(
    engine: Engine,
    now: datetime,
    raw_days: int = DEFAULT_RAW_DAYS,
    hourly_days: int = DEFAULT_HOURLY_DAYS,
) -> RetentionResult:
    """Delete the raw rows older than ``raw_days`` and the hourly rollups older than ``hourly_days``.

    :param engine: the MECA data database.
    :param now: the current time (aware); the cutoffs are counted back from the start of its UTC day.
    :param raw_days: days of raw samples, sweep health and VM counts to keep (at least 1).
    :param hourly_days: days of hourly rollups to keep (at least 1).
    :return: the cutoffs and the rows deleted per table.
    :raises ValueError: when a number of days is below 1.
    """
    for name, days in (("raw_days", raw_days), ("hourly_days", hourly_days)):
        if days < 1:
            raise ValueError(f"apply_retention: {name} must be at least 1 (got {days})")
    raw_cutoff = DAILY.floor(now) - timedelta(days=raw_days)
    hourly_cutoff = DAILY.floor(now) - timedelta(days=hourly_days)
    deleted: dict[str, int] = {}
    with engine.begin() as connection:
        oldest = connection.scalar(
            select(func.min(models.CapacitySample.sampled_at)).where(
                models.CapacitySample.sampled_at < raw_cutoff
            )
        )
        if oldest is not None:
            roll_up_period(connection, oldest, raw_cutoff)
        for table in _RAW_TABLES:
            deleted[table.__tablename__] = connection.execute(
                delete(table).where(table.sampled_at < raw_cutoff)
            ).rowcount
        hourly = models.CapacityHourly
        deleted[hourly.__tablename__] = connection.execute(
            delete(hourly).where(hourly.bucket < hourly_cutoff)
        ).rowcount
    return RetentionResult(raw_cutoff=raw_cutoff, hourly_cutoff=hourly_cutoff, deleted=deleted)
