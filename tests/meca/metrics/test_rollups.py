from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from statistics import fmean

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from meca.metrics.rollups import DAILY, HOURLY, Granularity, rebuild_rollups, refresh_rollups
from meca.store import models
from tests.meca.metrics.sweep_fixtures import Sweeps, ZoneValues

START = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)  # the samples cross an hour, and midnight
STEP = timedelta(minutes=5)
MEMORY, CPU, GPU = 0, 1, 19
GIB = 1024**3

Key = tuple[str, int, datetime]


def _history(samples: int, seed: int) -> dict[tuple[str, datetime], ZoneValues]:
    """Sweeps of two regions of two zones; GPU has a total of 0 (no percent)."""
    rng = random.Random(seed)
    history: dict[tuple[str, datetime], ZoneValues] = {}
    for i in range(samples):
        at = START + i * STEP
        for region in ("alpha", "beta"):
            history[region, at] = {
                MEMORY: [(rng.randrange(0, 64) * GIB, 64 * GIB), (rng.randrange(0, 128) * GIB, 128 * GIB)],
                CPU: [(rng.randrange(0, 32_000), 32_000 + 1000 * i), (rng.randrange(0, 16_000), 16_000)],
                GPU: [(0, 0), (0, 0)],
            }
    return history


def _expected(history: dict[tuple[str, datetime], ZoneValues], granularity: Granularity) -> dict[Key, tuple]:
    """The rollup rows computed independently, in Python, from what was written."""
    groups: dict[Key, list[tuple[int, int, float | None]]] = defaultdict(list)
    for (region, at), values in history.items():
        for capacity_type, zones in values.items():
            used = sum(u for u, _ in zones)
            total = sum(t for _, t in zones)
            percent = 100.0 * used / total if total else None
            groups[region, capacity_type, granularity.floor(at)].append((used, total, percent))
    expected = {}
    for key, rows in groups.items():
        percents = [p for _, _, p in rows if p is not None]
        expected[key] = (
            len(rows),
            min(u for u, _, _ in rows),
            max(u for u, _, _ in rows),
            pytest.approx(fmean(u for u, _, _ in rows)),
            max(t for _, t, _ in rows),
            pytest.approx(max(percents)) if percents else None,
            pytest.approx(fmean(percents)) if percents else None,
        )
    return expected


def _stored(engine: Engine, table: type[models.CapacityHourly | models.CapacityDaily]) -> dict[Key, tuple]:
    with Session(engine) as session:
        rows = session.execute(select(models.Region.name, table).join(models.Region)).all()
    return {
        (name, r.type, r.bucket): (
            r.samples,
            r.used_min,
            r.used_max,
            r.used_mean,
            r.total_max,
            r.percent_max,
            r.percent_mean,
        )
        for name, r in rows
    }


def test_refresh_after_each_sweep_gives_the_rollups_of_the_raw_samples(
    sweeps: Sweeps, data_engine: Engine
) -> None:
    history = _history(samples=20, seed=3)
    for (region, at), values in history.items():
        sweeps.ok(region, at, values)
        refresh_rollups(data_engine, at)

    hourly = _stored(data_engine, models.CapacityHourly)
    daily = _stored(data_engine, models.CapacityDaily)
    assert hourly == _expected(history, HOURLY)
    assert daily == _expected(history, DAILY)
    # 22:30..00:05 spans three hours and two days, for 2 regions x 3 types
    assert len(hourly) == 3 * 2 * 3
    assert {bucket.day for _, _, bucket in daily} == {1, 2}
    assert all(bucket.tzinfo is not None for _, _, bucket in hourly)


def test_refresh_and_rebuild_are_idempotent_and_agree(sweeps: Sweeps, data_engine: Engine) -> None:
    history = _history(samples=20, seed=5)
    for (region, at), values in history.items():
        sweeps.ok(region, at, values)
    last = max(at for _, at in history)
    refresh_rollups(data_engine, last)
    refresh_rollups(data_engine, last)
    refreshed = _stored(data_engine, models.CapacityHourly)

    with Session(data_engine) as session, session.begin():
        session.execute(delete(models.CapacityHourly))
        session.execute(delete(models.CapacityDaily))
    written = rebuild_rollups(data_engine, START, last + STEP)
    assert written == {
        "capacity_hourly": len(_expected(history, HOURLY)),
        "capacity_daily": len(_expected(history, DAILY)),
    }
    rebuild_rollups(data_engine, START, last + STEP)

    hourly = _stored(data_engine, models.CapacityHourly)
    assert hourly == _expected(history, HOURLY)
    assert {k: v for k, v in hourly.items() if k[2] == HOURLY.floor(last)} == refreshed
    assert _stored(data_engine, models.CapacityDaily) == _expected(history, DAILY)


def test_a_sample_rewritten_as_an_error_leaves_its_bucket(sweeps: Sweeps, data_engine: Engine) -> None:
    first, second = START + timedelta(minutes=35), START + timedelta(minutes=40)
    sweeps.ok("alpha", first, {MEMORY: [(10 * GIB, 64 * GIB)]})
    sweeps.ok("alpha", second, {MEMORY: [(30 * GIB, 64 * GIB)]})
    refresh_rollups(data_engine, second)

    sweeps.error("alpha", second, "region alpha: listCapacity: HTTP 503")
    refresh_rollups(data_engine, second)

    with Session(data_engine) as session:
        hourly = session.scalars(select(models.CapacityHourly)).one()
        daily = session.scalars(select(models.CapacityDaily)).one()
    for bucket in (hourly, daily):
        assert (bucket.samples, bucket.used_min, bucket.used_max) == (1, 10 * GIB, 10 * GIB)


def test_rebuild_refuses_an_empty_period(data_engine: Engine) -> None:
    with pytest.raises(ValueError, match="must be after its start"):
        rebuild_rollups(data_engine, START, START)
    with Session(data_engine) as session:
        assert session.scalar(select(func.count()).select_from(models.CapacityHourly)) == 0
