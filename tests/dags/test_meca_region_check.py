"""``meca_region_check`` run with ``dag.test()`` against a real simulator of three regions.

Connections and the ``meca_regions`` Variable come from ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*``
environment variables, so the DAG's look-ups are Airflow's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cloudstack_simulator.airflow_connections import airflow_env, conn_id_for
from cloudstack_simulator.testing import SimulatorHandle, region_mapping, run_simulator, topology_mapping

DAG_ID = "meca_region_check"
REGION_NAMES = ("alpha", "beta", "gamma")


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    topology = topology_mapping(
        [region_mapping(name, index) for index, name in enumerate(REGION_NAMES, start=1)], seed=3
    )
    with run_simulator(topology, tmp_path_factory.mktemp("region-check-sim")) as handle:
        yield handle


@pytest.fixture
def airflow_sees_simulator(simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> SimulatorHandle:
    for key, value in airflow_env(simulator.endpoints).items():
        monkeypatch.setenv(key, value)
    return simulator


@pytest.fixture
def region_down(airflow_sees_simulator: SimulatorHandle) -> Iterator[str]:
    """``gamma`` refuses connections for the duration of the test."""
    airflow_sees_simulator.control.set_faults("gamma", down=True)
    try:
        yield "gamma"
    finally:
        airflow_sees_simulator.control.set_faults("gamma", down=False)


def run_dag(dagbag: Any) -> Any:
    dag = dagbag.get_dag(DAG_ID)
    assert dag is not None, dagbag.import_errors
    return dag.test()


def check_states(dag_run: Any) -> dict[str, str]:
    """``{rendered map index (the region name): state}`` of the mapped ``check`` tasks."""
    return {ti.rendered_map_index: ti.state for ti in dag_run.get_task_instances() if ti.task_id == "check"}


def task_state(dag_run: Any, task_id: str) -> str:
    (state,) = [ti.state for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return state


@pytest.mark.usefixtures("airflow_pools")
def test_every_region_answers(dagbag: Any, airflow_sees_simulator: SimulatorHandle) -> None:
    dag_run = run_dag(dagbag)

    assert check_states(dag_run) == dict.fromkeys(REGION_NAMES, "success")
    assert task_state(dag_run, "report") == "success"
    assert dag_run.state == "success"
    report = dag_run.get_task_instance("report").xcom_pull(task_ids="report")
    assert report == {"answered": sorted(conn_id_for(name) for name in REGION_NAMES), "missing": []}
    gamma = dag_run.get_task_instance("check", map_index=2).xcom_pull(task_ids="check", map_indexes=2)
    assert gamma["region"] == "gamma"
    assert gamma["display_name"] == "Gamma DC"
    assert gamma["zones"] == ["gamma-z1"]
    assert gamma["capacity_records"] > 0
    assert gamma["latency_ms"] >= 0


@pytest.mark.usefixtures("airflow_pools")
def test_a_region_down_fails_its_check_and_the_run(
    dagbag: Any, region_down: str, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    dag_run = run_dag(dagbag)

    assert check_states(dag_run) == {"alpha": "success", "beta": "success", region_down: "failed"}
    assert task_state(dag_run, "report") == "failed"
    assert task_state(dag_run, "regions") == "success"
    assert dag_run.state == "failed"
    captured = capfd.readouterr()
    output = captured.out + captured.err + caplog.text
    assert f"region {region_down}: listZones: cannot reach http://" in output
    assert f"1 of 3 region(s) did not answer: {conn_id_for(region_down)}" in output


@pytest.mark.usefixtures("airflow_pools")
def test_an_empty_registry_fails_the_run(
    dagbag: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_MECA_REGIONS", "[]")

    dag_run = run_dag(dagbag)

    assert check_states(dag_run) == {None: "skipped"}  # a zero-length expansion is one skipped, unmapped TI
    assert task_state(dag_run, "report") == "failed"
    assert dag_run.state == "failed"
    captured = capfd.readouterr()
    assert "the Variable meca_regions lists no region" in captured.out + captured.err
