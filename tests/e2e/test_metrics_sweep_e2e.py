"""``meca_metrics_sweep`` in a real multi-process Airflow against the simulated seed federation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine

from cloudstack_simulator.testing import SimulatorHandle
from tests.e2e.airflow_cluster import AirflowCluster
from tests.e2e.sweep_tables import stored_sweep

pytestmark = pytest.mark.e2e

DAG_ID = "meca_metrics_sweep"


@pytest.fixture
def region_down(seed_simulator: SimulatorHandle) -> Iterator[str]:
    """The second seed region refuses connections for the duration of the test."""
    name = seed_simulator.endpoints["regions"][1]["name"]
    seed_simulator.control.set_faults(name, down=True)
    try:
        yield name
    finally:
        seed_simulator.control.set_faults(name, down=False)


def test_sweep_stores_every_answering_region(
    airflow_cluster: AirflowCluster,
    seed_simulator: SimulatorHandle,
    e2e_data_engine: Engine,
    region_down: str,
) -> None:
    names = [region["name"] for region in seed_simulator.endpoints["regions"]]
    airflow_cluster.wait_for_dag(DAG_ID)

    run_id = airflow_cluster.trigger(DAG_ID)
    state = airflow_cluster.wait_for_run(DAG_ID, run_id, timeout=300.0)

    tis = airflow_cluster.task_instances(DAG_ID, run_id)
    swept = {ti["rendered_map_index"]: ti["state"] for ti in tis if ti["task_id"] == "sweep_region"}
    expected = dict.fromkeys(names, "success")
    expected[region_down] = "failed"
    assert swept == expected
    assert state == "success"
    summary = airflow_cluster.xcom(DAG_ID, run_id, "finalize")
    assert summary["stale"] == [region_down]
    sampled_at = datetime.fromisoformat(summary["sampled_at"])
    health, stored_regions = stored_sweep(e2e_data_engine, sampled_at)
    assert health == {name: ("error" if name == region_down else "ok") for name in names}
    assert stored_regions == set(names) - {region_down}
