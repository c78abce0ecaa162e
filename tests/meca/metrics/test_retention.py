from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from meca.metrics.retention import (
    DEFAULT_RAW_DAYS,
    RAW_RETENTION_VARIABLE,
    apply_retention,
    raw_retention_days,
)
from meca.metrics.rollups import DAILY, HOURLY, rebuild_rollups
from meca.store import models
from tests.meca.metrics.sweep_fixtures import Sweeps

NOW = datetime(2026, 5, 10, 13, 17, tzinfo=UTC)
MEMORY = 0
STEP = timedelta(hours=12)
FIRST = NOW - timedelta(days=40)


def _fill(sweeps: Sweeps) -> list[datetime]:
    """Two-zone samples every 12 hours over the 40 days before NOW; no rollup refreshed."""
    times = []
    at = FIRST
    while at <= NOW:
        used = int((at - FIRST) / STEP)
        sweeps.ok("alpha", at, {MEMORY: [(used, 100), (2 * used, 100)]}, vms={"Running": 2, "Stopped": 1})
        times.append(at)
        at += STEP
    return times


def _count(engine: Engine, table: type[models.Base]) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(table))


def _rows(engine: Engine, table: type[models.CapacityHourly | models.CapacityDaily]) -> dict:
    with Session(engine) as session:
        return {
            r.bucket: (r.samples, r.used_min, r.used_max, r.used_mean, r.total_max)
            for r in session.scalars(select(table))
        }


def test_raw_rows_older_than_the_setting_go_after_being_rolled_up(
    sweeps: Sweeps, data_engine: Engine
) -> None:
    times = _fill(sweeps)
    cutoff = datetime(2026, 5, 10, tzinfo=UTC) - timedelta(days=35)
    old = [at for at in times if at < cutoff]
    assert old
    assert len(old) < len(times)

    result = apply_retention(data_engine, NOW, raw_days=35)

    assert result.raw_cutoff == cutoff
    assert result.deleted == {
        "capacity_samples": 2 * len(old),
        "vm_counts": 2 * len(old),
        "sweep_health": len(old),
        "capacity_hourly": 0,
    }
    for table, per_sample in ((models.CapacitySample, 2), (models.VmCount, 2), (models.SweepHealth, 1)):
        assert _count(data_engine, table) == per_sample * (len(times) - len(old))
        with Session(data_engine) as session:
            assert session.scalar(select(func.min(table.sampled_at))) >= cutoff
    # the deleted samples' hours and days were rolled up before they went
    hourly = _rows(data_engine, models.CapacityHourly)
    for at in old:
        used = int((at - FIRST) / STEP) * 3
        assert hourly[HOURLY.floor(at)] == (1, used, used, used, 200)
    assert {DAILY.floor(at) for at in old} <= set(_rows(data_engine, models.CapacityDaily))


def test_rebuild_after_retention_keeps_the_rollups_of_deleted_days(
    sweeps: Sweeps, data_engine: Engine
) -> None:
    _fill(sweeps)
    rebuild_rollups(data_engine, FIRST, NOW + STEP)
    daily_before = _rows(data_engine, models.CapacityDaily)
    hourly_before = _rows(data_engine, models.CapacityHourly)

    apply_retention(data_engine, NOW, raw_days=35)
    rebuild_rollups(data_engine, FIRST, NOW + STEP)

    assert _rows(data_engine, models.CapacityDaily) == daily_before
    assert _rows(data_engine, models.CapacityHourly) == hourly_before


def test_hourly_rollups_have_their_own_retention_and_daily_ones_stay(
    sweeps: Sweeps, data_engine: Engine
) -> None:
    times = _fill(sweeps)
    rebuild_rollups(data_engine, FIRST, NOW + STEP)
    daily = _count(data_engine, models.CapacityDaily)
    hourly_cutoff = datetime(2026, 5, 10, tzinfo=UTC) - timedelta(days=38)

    result = apply_retention(data_engine, NOW, raw_days=35, hourly_days=38)

    assert result.hourly_cutoff == hourly_cutoff
    assert result.deleted["capacity_hourly"] == len([at for at in times if at < hourly_cutoff])
    with Session(data_engine) as session:
        assert session.scalar(select(func.min(models.CapacityHourly.bucket))) >= hourly_cutoff
    assert _count(data_engine, models.CapacityDaily) == daily


def test_retention_refuses_less_than_a_day(data_engine: Engine) -> None:
    with pytest.raises(ValueError, match="raw_days must be at least 1"):
        apply_retention(data_engine, NOW, raw_days=0)


def test_the_setting_is_the_airflow_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    variable = f"AIRFLOW_VAR_{RAW_RETENTION_VARIABLE.upper()}"
    monkeypatch.delenv(variable, raising=False)
    assert raw_retention_days() == DEFAULT_RAW_DAYS
    monkeypatch.setenv(variable, "90")
    assert raw_retention_days() == 90
    for wrong in ("0", "two weeks"):
        monkeypatch.setenv(variable, wrong)
        with pytest.raises(ValueError, match=f"{RAW_RETENTION_VARIABLE} must be a whole number"):
            raw_retention_days()
