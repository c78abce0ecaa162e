"""``meca_metrics_sweep`` run with ``dag.test()``: ten simulated regions, one down and one too slow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cs import CloudStack
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cloudstack_simulator.airflow_connections import airflow_env
from cloudstack_simulator.testing import region_mapping, topology_mapping
from meca.store import models

LOGICAL_DATE = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)
NAMES = [f"r{i:02d}" for i in range(1, 11)]


TOPOLOGY = topology_mapping(
    [region_mapping(name, i, cpu_cores=8, memory_gib=32) for i, name in enumerate(NAMES, start=1)], seed=7
)


@pytest.fixture
def federation(simulator_factory, meca_data: Engine, monkeypatch: pytest.MonkeyPatch, airflow_pools: None):
    handle = simulator_factory(TOPOLOGY)
    for key, value in airflow_env(handle.endpoints, timeout_s=1.0).items():
        monkeypatch.setenv(key, value)
    handle.control.set_faults("r09", down=True)
    handle.control.set_faults("r10", latency_s=3.0)
    handle.control.set_configurations("r02", **{"cluster.memory.allocated.capacity.disablethreshold": 0.9})
    return handle


def _counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            table.__tablename__: session.scalar(select(func.count()).select_from(table))
            for table in (models.CapacitySample, models.SweepHealth, models.VmCount, models.CapacityThreshold)
        }


def test_sweep_stores_healthy_regions_and_marks_the_others_stale(
    dagbag, federation, data_engine: Engine
) -> None:
    dag = dagbag.get_dag("meca_metrics_sweep")

    run = dag.test(logical_date=LOGICAL_DATE)

    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    failed = sorted(i for (task, i), state in states.items() if task == "sweep_region" and state == "failed")
    assert failed == [8, 9]
    assert states[("finalize", -1)] == "success"
    with Session(data_engine) as session:
        health = {
            name: (status, error)
            for name, status, error in session.execute(
                select(models.Region.name, models.SweepHealth.status, models.SweepHealth.error)
                .join(models.Region)
                .where(models.SweepHealth.sampled_at == LOGICAL_DATE)
            )
        }
        assert {n for n, (status, _) in health.items() if status == "ok"} == set(NAMES[:8])
        assert health["r09"][0] == "error"
        assert "connection refused" in health["r09"][1].lower()
        assert health["r10"][0] == "error"
        assert "timed out" in health["r10"][1].lower()
        stored = dict(
            session.execute(
                select(models.Region.name, func.sum(models.CapacitySample.total))
                .join(models.Region)
                .where(models.CapacitySample.type == 0)
                .group_by(models.Region.name)
            ).all()
        )
    info = federation.region("r01")
    api = CloudStack(endpoint=info["endpoint"], key=info["api_key"], secret=info["secret_key"])
    memory_total = sum(c["capacitytotal"] for c in api.listCapacity(type=0)["capacity"])
    assert stored == dict.fromkeys(NAMES[:8], memory_total)
    with Session(data_engine) as session:
        thresholds = {
            name: (row.cpu, row.memory, row.sampled_at)
            for name, row in session.execute(
                select(models.Region.name, models.CapacityThreshold).join(models.Region)
            ).all()
        }
    assert thresholds == {
        name: (0.85, 0.9 if name == "r02" else 0.85, LOGICAL_DATE) for name in NAMES[:8]
    }  # read once per sweep per region; the failed regions have none

    before = _counts(data_engine)
    rerun = dag.test(logical_date=LOGICAL_DATE)
    assert rerun.get_task_instance("finalize").state == "success"
    assert _counts(data_engine) == before

    # The shipped rule "region-down" opens after 2 failed sweeps and clears at the first good one.
    second = dag.test(logical_date=LOGICAL_DATE + timedelta(minutes=5))
    opened = second.get_task_instance("finalize").xcom_pull(task_ids="finalize")["alert_changes"]
    assert {(c["rule"], c["region"], c["change"]) for c in opened} == {
        ("region-down", "r09", "opened"),
        ("region-down", "r10", "opened"),
    }
    federation.control.set_faults("r09", down=False)
    federation.control.set_faults("r10", latency_s=0.0)
    third = dag.test(logical_date=LOGICAL_DATE + timedelta(minutes=10))
    cleared = third.get_task_instance("finalize").xcom_pull(task_ids="finalize")["alert_changes"]
    assert {(c["rule"], c["region"], c["change"]) for c in cleared} == {
        ("region-down", "r09", "cleared"),
        ("region-down", "r10", "cleared"),
    }
    with Session(data_engine) as session:
        assert session.scalar(select(func.count()).select_from(models.CapacityHourly)) > 0
