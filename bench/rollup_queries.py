"""Benchmark: the analysts' queries through the rollups, on a synthetic year of 5-minute samples.

Creates a scratch PostgreSQL database, migrates it, fills ``capacity_samples`` (and ``sweep_health``)
with one year of 5-minute samples for 10 regions (one zone, 8 capacity types: ~8.4 million raw rows,
generated server-side with ``generate_series``), builds the rollups with
:func:`meca.metrics.rollups.rebuild_rollups`, then times "daily peak per region for a year" and
"hourly mean for a month" (median of 5 runs, all rows fetched) and reports the bytes per raw sample.
The database is dropped at the end (``--keep`` keeps it).

    .venv/bin/python bench/rollup_queries.py            # the full year (a few minutes)
    .venv/bin/python bench/rollup_queries.py --short    # 10 days, for CI: fails only above 10x the target
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "plugins")]

from sqlalchemy import Engine, create_engine, make_url, text  # noqa: E402

from meca.metrics.rollups import rebuild_rollups  # noqa: E402
from meca.store.migrate import upgrade  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
TARGET_MS = 200.0
SHORT_FACTOR = 10.0
RUNS = 5
MEMORY = 0
#: The capacity types generated, with each region's total (bytes, MHz or a count).
TOTALS = {
    0: 4 * 1024**4,
    1: 512_000,
    2: 200 * 1024**4,
    3: 200 * 1024**4,
    5: 250,
    6: 50 * 1024**4,
    8: 1000,
    9: 20 * 1024**4,
}

DAILY_PEAK = """
SELECT r.name AS region, d.bucket AS day, d.used_max, d.total_max, d.percent_max
FROM capacity_daily d JOIN regions r ON r.id = d.region_id
WHERE d.type = :type AND d.bucket >= :since AND d.bucket < :until
ORDER BY r.name, d.bucket
"""
HOURLY_MEAN = """
SELECT r.name AS region, h.bucket AS hour, h.used_mean, h.percent_mean
FROM capacity_hourly h JOIN regions r ON r.id = h.region_id
WHERE h.type = :type AND h.bucket >= :since AND h.bucket < :until
ORDER BY r.name, h.bucket
"""

FILL_SAMPLES = """
INSERT INTO capacity_samples (region_id, zone_id, type, sampled_at, used, allocated, total, percent)
SELECT :region_id, :zone_id, c.type, t, u.used, NULL, c.total, (100.0 * u.used / c.total)::real
FROM generate_series(CAST(:since AS timestamptz), CAST(:until AS timestamptz) - interval '5 minutes',
                     interval '5 minutes') AS t
CROSS JOIN (
    SELECT unnest(CAST(:types AS smallint[])) AS type, unnest(CAST(:totals AS bigint[])) AS total
) AS c
CROSS JOIN LATERAL (
    SELECT (c.total * (0.45 + 0.25 * sin(2 * pi() * extract(epoch FROM t) / 86400 + :region_id)
                       + 0.1 * random()))::bigint AS used
) AS u
"""
FILL_HEALTH = """
INSERT INTO sweep_health (region_id, sampled_at, status, latency_ms, api_calls, error)
SELECT :region_id, t, 'ok', 300 + 50 * random(), 3, NULL
FROM generate_series(CAST(:since AS timestamptz), CAST(:until AS timestamptz) - interval '5 minutes',
                     interval '5 minutes') AS t
"""


def fill(engine: Engine, regions: int, since: datetime, until: datetime) -> int:
    """Generate the raw samples server-side; :return: the number of raw capacity rows."""
    types, totals = list(TOTALS), list(TOTALS.values())
    for number in range(1, regions + 1):
        with engine.begin() as connection:
            region_id = connection.scalar(
                text(
                    "INSERT INTO regions (name, conn_id, display_name, updated_at) "
                    "VALUES (:name, :conn_id, :name, now()) RETURNING id"
                ),
                {"name": f"bench-{number:02d}", "conn_id": f"cloudstack_bench_{number:02d}"},
            )
            zone_id = connection.scalar(
                text("INSERT INTO zones (region_id, name) VALUES (:region_id, :name) RETURNING id"),
                {"region_id": region_id, "name": f"bench-{number:02d}-z1"},
            )
            bounds = {"region_id": region_id, "since": since, "until": until}
            connection.execute(
                text(FILL_SAMPLES), {**bounds, "zone_id": zone_id, "types": types, "totals": totals}
            )
            connection.execute(text(FILL_HEALTH), bounds)
        print(f"  region {number}/{regions} generated", flush=True)
    with engine.connect() as connection:
        return connection.scalar(text("SELECT count(*) FROM capacity_samples"))


def median_ms(engine: Engine, sql: str, params: dict[str, object]) -> tuple[float, int]:
    """The median wall time of ``RUNS`` runs (rows fetched), and the row count."""
    times, rows = [], 0
    with engine.connect() as connection:
        connection.execute(text(sql), params).fetchall()  # warm the cache once
        for _ in range(RUNS):
            started = time.perf_counter()
            rows = len(connection.execute(text(sql), params).fetchall())
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("MECA_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="a PostgreSQL server URL (a scratch database is created beside it)",
    )
    parser.add_argument("--short", action="store_true", help="10 days; fail only above 10x the target")
    parser.add_argument("--regions", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    days = 10 if args.short else 365
    until = datetime(2027, 1, 1, tzinfo=UTC)
    since = until - timedelta(days=days)

    admin_url = make_url(args.url)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"meca_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(admin_url.set(database=name))
    try:
        upgrade(engine)
        print(f"generating {days} days of 5-minute samples for {args.regions} regions in {name}", flush=True)
        started = time.perf_counter()
        raw_rows = fill(engine, args.regions, since, until)
        print(f"  {raw_rows} raw rows in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        written = rebuild_rollups(engine, since, until)
        print(f"rollups built in {time.perf_counter() - started:.1f} s: {written}", flush=True)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
            size = connection.scalar(text("SELECT pg_total_relation_size('capacity_samples')"))
        month = until - timedelta(days=min(days, 30))
        results = {
            "daily peak per region for a year": median_ms(
                engine, DAILY_PEAK, {"type": MEMORY, "since": since, "until": until}
            ),
            "hourly mean for a month": median_ms(
                engine, HOURLY_MEAN, {"type": MEMORY, "since": month, "until": until}
            ),
        }
    finally:
        engine.dispose()
        if not args.keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    print(
        f"raw samples: {raw_rows} rows, {size / 2**20:.0f} MiB with indexes, "
        f"{size / raw_rows:.1f} bytes per raw sample"
    )
    limit = TARGET_MS * (SHORT_FACTOR if args.short else 1)
    failed = False
    for label, (ms, rows) in results.items():
        verdict = "ok" if ms <= limit else "TOO SLOW"
        failed |= ms > limit
        print(f"{label}: {ms:.1f} ms median of {RUNS} ({rows} rows; target {TARGET_MS:.0f} ms) {verdict}")
    if args.short and failed:
        print(f"gross regression: a query took more than {SHORT_FACTOR:g}x the {TARGET_MS:.0f} ms target")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
