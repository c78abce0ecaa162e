"""``meca_region_check`` in a real multi-process Airflow against the simulated seed federation."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import pytest

from cloudstack_simulator.airflow_connections import conn_id_for
from cloudstack_simulator.testing import SimulatorHandle
from tests.e2e.airflow_cluster import AirflowCluster

pytestmark = pytest.mark.e2e

DAG_ID = "meca_region_check"
SEED_REGIONS = 10
RUN_TIMEOUT_S = 300.0


@pytest.fixture(scope="module")
def cluster(airflow_cluster: AirflowCluster) -> AirflowCluster:
    airflow_cluster.wait_for_dag(DAG_ID)
    return airflow_cluster


@pytest.fixture
def region_down(seed_simulator: SimulatorHandle) -> Iterator[str]:
    """The fourth seed region refuses connections for the duration of the test."""
    name = seed_simulator.endpoints["regions"][3]["name"]
    seed_simulator.control.set_faults(name, down=True)
    try:
        yield name
    finally:
        seed_simulator.control.set_faults(name, down=False)


def run_to_end(cluster: AirflowCluster) -> tuple[str, str]:
    """Trigger the DAG over REST and wait; return ``(run_id, state)`` and print the wall time."""
    started = time.monotonic()
    run_id = cluster.trigger(DAG_ID)
    state = cluster.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT_S)
    print(f"{DAG_ID} run {run_id}: {state} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return run_id, state


def states_by_task(cluster: AirflowCluster, run_id: str) -> dict[str, dict[str, str]]:
    """``{task_id: {label: state}}``; a mapped task's label is its rendered map index (region name)."""
    out: dict[str, dict[str, str]] = {}
    for ti in cluster.task_instances(DAG_ID, run_id):
        label = ti["rendered_map_index"] if ti["map_index"] >= 0 else ""
        out.setdefault(ti["task_id"], {})[label] = ti["state"]
    return out


def test_every_seed_region_answers(cluster: AirflowCluster, seed_simulator: SimulatorHandle) -> None:
    names = [region["name"] for region in seed_simulator.endpoints["regions"]]
    assert len(names) == SEED_REGIONS

    run_id, state = run_to_end(cluster)

    states = states_by_task(cluster, run_id)
    assert states["check"] == dict.fromkeys(names, "success")
    assert states["regions"] == {"": "success"}
    assert states["report"] == {"": "success"}
    assert state == "success"
    report = cluster.xcom(DAG_ID, run_id, "report")
    assert report == {"answered": sorted(conn_id_for(name) for name in names), "missing": []}
    first = cluster.xcom(DAG_ID, run_id, "check", map_index=0)
    assert first["region"] == names[0]
    assert first["zones"] == seed_simulator.endpoints["regions"][0]["zones"]


def test_a_region_down_fails_its_check_and_the_run(
    cluster: AirflowCluster, seed_simulator: SimulatorHandle, region_down: str
) -> None:
    names = [region["name"] for region in seed_simulator.endpoints["regions"]]

    run_id, state = run_to_end(cluster)

    states = states_by_task(cluster, run_id)
    expected = dict.fromkeys(names, "success")
    expected[region_down] = "failed"
    assert states["check"] == expected
    assert states["report"] == {"": "failed"}
    assert state == "failed"
    down_index = names.index(region_down)
    assert f"region {region_down}: listZones: cannot reach http://" in cluster.task_log(
        DAG_ID, run_id, "check", map_index=down_index
    )
    report_log = cluster.task_log(DAG_ID, run_id, "report")
    assert f"Region check: {len(names) - 1} of {len(names)} answered" in report_log
    assert f"did not answer: {conn_id_for(region_down)}" in report_log
