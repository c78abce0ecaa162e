from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from meca.metrics.export import ExportError, export_table, main
from meca.metrics.rollups import rebuild_rollups
from meca.store import models
from meca.store.engine import connection_fields
from tests.meca.metrics.sweep_fixtures import Sweeps

REPO = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 7, 1, 22, 0, tzinfo=UTC)
STEP = timedelta(minutes=30)
SAMPLES = 8  # 22:00 .. 01:30, across midnight
MEMORY, CPU = 0, 1


def _fill(sweeps: Sweeps) -> None:
    for i in range(SAMPLES):
        at = T0 + i * STEP
        sweeps.ok("alpha", at, {MEMORY: [(i, 10), (2 * i, 20)], CPU: [(100 + i, 1000)]})
        if i % 2:
            sweeps.error("beta", at, f"region beta: HTTP 503 at sample {i}")
        else:
            sweeps.ok("beta", at, {MEMORY: [(3 * i, 30)]})
    rebuild_rollups(sweeps.engine, T0, T0 + SAMPLES * STEP)


def _export(engine: Engine, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the export command in a new process, on the database named by an Airflow Connection."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'plugins'}{os.pathsep}{REPO}"}
    connection = connection_fields(engine.url)
    env["AIRFLOW_CONN_MECA_EXPORT_TEST"] = json.dumps(connection)
    return subprocess.run(
        [sys.executable, "-m", "meca.metrics.export", "--conn-id", "meca_export_test", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_exports_a_period_of_raw_samples_to_csv_with_names(
    sweeps: Sweeps, data_engine: Engine, tmp_path: Path
) -> None:
    _fill(sweeps)
    since, until = T0 + 2 * STEP, T0 + 6 * STEP
    result = _export(
        data_engine,
        tmp_path,
        "--table",
        "capacity_samples",
        "--since",
        since.isoformat(),
        "--until",
        until.strftime("%Y-%m-%dT%H:%M"),  # no zone: UTC
        "--out",
        "samples.csv",
    )
    assert result.returncode == 0, result.stderr
    exported = pd.read_csv(tmp_path / "samples.csv")
    with Session(data_engine) as session:
        stored = session.execute(
            select(models.Region.name, models.CapacitySample)
            .join(models.Region)
            .where(models.CapacitySample.sampled_at >= since, models.CapacitySample.sampled_at < until)
        ).all()
    assert f"{len(stored)} rows of capacity_samples written" in result.stdout
    assert len(exported) == len(stored) > 0
    assert list(exported.columns) == [
        "region_id",
        "region",
        "zone_id",
        "type",
        "type_name",
        "sampled_at",
        "used",
        "allocated",
        "total",
        "percent",
    ]
    got = {
        (r.region, r.zone_id, r.type_name, pd.Timestamp(r.sampled_at).to_pydatetime(), r.used, r.total)
        for r in exported.itertuples()
    }
    names = {0: "MEMORY", 1: "CPU"}
    assert got == {(region, s.zone_id, names[s.type], s.sampled_at, s.used, s.total) for region, s in stored}


def test_parquet_export_keeps_the_column_types(sweeps: Sweeps, data_engine: Engine, tmp_path: Path) -> None:
    _fill(sweeps)
    out = tmp_path / "daily.parquet"
    daily_rows = export_table(data_engine, "capacity_daily", out, "parquet")
    out_hourly = tmp_path / "hourly.parquet"
    rows = export_table(data_engine, "capacity_hourly", out_hourly, "parquet", since=T0, until=T0 + 2 * STEP)
    table = pq.read_table(out_hourly)

    assert table.schema.field("bucket").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("used_max").type == pa.int64()
    assert table.schema.field("percent_mean").type == pa.float64()
    with Session(data_engine) as session:
        stored = {
            (r.region_id, r.type, r.bucket): (r.samples, r.used_max, r.percent_mean)
            for r in session.scalars(
                select(models.CapacityHourly).where(models.CapacityHourly.bucket < T0 + 2 * STEP)
            )
        }
    assert rows == len(stored) > 0
    assert {
        (r["region_id"], r["type"], r["bucket"]): (r["samples"], r["used_max"], r["percent_mean"])
        for r in table.to_pylist()
    } == stored
    with Session(data_engine) as session:
        daily = session.execute(
            select(models.Region.name)
            .join(models.CapacityDaily)
            .order_by(models.CapacityDaily.region_id, models.CapacityDaily.type, models.CapacityDaily.bucket)
        ).scalars()
        assert pq.read_table(out).column("region").to_pylist() == list(daily)
    assert daily_rows == 6  # across midnight: 2 days x (alpha: 2 types, beta: 1)


def test_sweep_health_export_carries_the_errors(sweeps: Sweeps, data_engine: Engine, tmp_path: Path) -> None:
    _fill(sweeps)
    out = tmp_path / "health.csv"
    assert export_table(data_engine, "sweep_health", out, "csv") == 2 * SAMPLES
    health = pd.read_csv(out)
    errors = health[health["status"] == "error"]
    assert set(errors["region"]) == {"beta"}
    assert len(errors) == SAMPLES // 2
    assert errors["error"].str.startswith("region beta: HTTP 503").all()


def test_refusals_are_clear(data_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ExportError, match="table regions has no time column"):
        export_table(data_engine, "regions", tmp_path / "r.csv", "csv", since=T0)
    with pytest.raises(ExportError, match="unknown format 'xlsx'"):
        export_table(data_engine, "regions", tmp_path / "r.xlsx", "xlsx")
    url = data_engine.url.render_as_string(hide_password=False)
    with pytest.raises(SystemExit) as caught:
        main(["--url", url, "--table", "regions", "--out", str(tmp_path / "regions.xlsx")])
    assert caught.value.code == 2
    assert "give --format (csv or parquet): cannot tell it from 'regions.xlsx'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--url", url, "--table", "regions", "--since", "2026-01-01", "--out", str(tmp_path / "r.csv")])
    assert "table regions has no time column" in capsys.readouterr().err
    assert main(["--url", url, "--table", "alerts", "--out", str(tmp_path / "alerts.csv")]) == 0
    assert (tmp_path / "alerts.csv").read_text().startswith("id,rule,region_id,region,severity,")
