"""Hourly and daily rollups of the raw capacity samples (region totals: zones summed).

At each sample time the zones of a region are summed per capacity type (``used``, ``total`` and the
region's percent ``100 * used / total``); a bucket then keeps the number of sample times, the min /
max / mean of ``used``, the max of ``total`` and the max / mean of the percent. A bucket covers the
sample times ``bucket <= sampled_at < bucket + 1 hour`` (or ``+ 1 day``), in UTC.

Both functions write with an upsert keyed on ``(region_id, type, bucket)``, so running them again
gives the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, bindparam, text

from meca.store import models
from meca.store.types import UTCDateTime


@dataclass(frozen=True)
class Granularity:
    """A rollup table and the width of its buckets.

    :param table: the rollup table's name.
    :param unit: the ``date_trunc`` unit of the bucket (``hour`` or ``day``).
    :param width: the width of a bucket.
    """

    table: str
    unit: str
    width: timedelta

    def floor(self, moment: datetime) -> datetime:
        """The start (in UTC) of the bucket containing the aware time ``moment``."""
        moment = moment.astimezone(UTC)
        if self.unit == "hour":
            return moment.replace(minute=0, second=0, microsecond=0)
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)

    def ceil(self, moment: datetime) -> datetime:
        """The start of the first bucket at or after ``moment``."""
        start = self.floor(moment)
        return start if start == moment else start + self.width


HOURLY = Granularity(models.CapacityHourly.__tablename__, "hour", timedelta(hours=1))
DAILY = Granularity(models.CapacityDaily.__tablename__, "day", timedelta(days=1))
GRANULARITIES = (HOURLY, DAILY)

_SQLITE_BUCKET = {"hour": "%Y-%m-%d %H:00:00.000000", "day": "%Y-%m-%d 00:00:00.000000"}

_ROLLUP_COLUMNS = "samples, used_min, used_max, used_mean, total_max, percent_max, percent_mean"


def _bucket_sql(dialect: str, unit: str) -> str:
    """SQL truncating ``sampled_at`` to its UTC bucket, in the storage form of :class:`UTCDateTime`."""
    if dialect == "postgresql":
        return f"date_trunc('{unit}', sampled_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    if dialect == "sqlite":
        return f"strftime('{_SQLITE_BUCKET[unit]}', sampled_at)"
    raise NotImplementedError(f"rollups support PostgreSQL and SQLite, not {dialect}")


def _upsert_sql(dialect: str, granularity: Granularity) -> str:
    bucket = _bucket_sql(dialect, granularity.unit)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _ROLLUP_COLUMNS.split(", "))
    # ``WHERE true`` before GROUP BY: SQLite needs a WHERE in an INSERT ... SELECT ... ON CONFLICT.
    return f"""
        INSERT INTO {granularity.table} (region_id, type, bucket, {_ROLLUP_COLUMNS})
        SELECT region_id, type, {bucket}, COUNT(*), MIN(used), MAX(used), AVG(used), MAX(total),
               MAX(percent), AVG(percent)
        FROM (
            SELECT region_id, type, sampled_at, SUM(used) AS used, SUM(total) AS total,
                   CASE WHEN SUM(total) > 0 THEN 100.0 * SUM(used) / SUM(total) END AS percent
            FROM capacity_samples
            WHERE sampled_at >= :since AND sampled_at < :until
            GROUP BY region_id, type, sampled_at
        ) AS region_totals
        WHERE true
        GROUP BY region_id, type, {bucket}
        ON CONFLICT (region_id, type, bucket) DO UPDATE SET {updates}
    """


def _roll_up(connection: Connection, granularity: Granularity, since: datetime, until: datetime) -> int:
    """Upsert the buckets of ``granularity`` from the raw samples in ``[since, until)``; :return: rows."""
    statement = text(_upsert_sql(connection.dialect.name, granularity)).bindparams(
        bindparam("since", since, type_=UTCDateTime()),
        bindparam("until", until, type_=UTCDateTime()),
    )
    return connection.execute(statement).rowcount


def refresh_rollups(engine: Engine, sampled_at: datetime) -> None:
    """Recompute the hourly and the daily bucket containing ``sampled_at`` from the raw samples.

    The buckets are replaced as a whole (deleted, then rebuilt), so a region whose sample at
    ``sampled_at`` was rewritten as an error no longer counts it. Call it once per sweep.

    :param engine: the MECA data database.
    :param sampled_at: the sweep's sample time (aware).
    """
    with engine.begin() as connection:
        for granularity in GRANULARITIES:
            bucket = granularity.floor(sampled_at)
            connection.execute(
                text(f"DELETE FROM {granularity.table} WHERE bucket = :bucket").bindparams(
                    bindparam("bucket", bucket, type_=UTCDateTime())
                )
            )
            _roll_up(connection, granularity, bucket, bucket + granularity.width)


def rebuild_rollups(engine: Engine, since: datetime, until: datetime) -> dict[str, int]:
    """Recompute every hourly and daily bucket overlapping ``[since, until)`` (a backfill).

    Buckets are upserted from the raw samples still kept; a bucket with no raw sample left (older
    than the raw retention) is left as it is, never deleted.

    :param engine: the MECA data database.
    :param since: the start of the period (aware), widened to the start of its bucket.
    :param until: the end of the period (aware, exclusive), widened to the end of its bucket.
    :return: the number of buckets written per rollup table.
    :raises ValueError: when ``until`` is not after ``since``.
    """
    with engine.begin() as connection:
        return roll_up_period(connection, since, until)


def roll_up_period(connection: Connection, since: datetime, until: datetime) -> dict[str, int]:
    """:func:`rebuild_rollups` inside the caller's transaction (same parameters and result)."""
    if until <= since:
        raise ValueError(
            f"rollups: the period's end ({until.isoformat()}) must be after its start ({since.isoformat()})"
        )
    return {
        granularity.table: _roll_up(
            connection, granularity, granularity.floor(since), granularity.ceil(until)
        )
        for granularity in GRANULARITIES
    }
