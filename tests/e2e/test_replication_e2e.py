"""``meca_template_replication`` in a real multi-process Airflow: SFTP MGTR, staging HTTP, seed federation.

The register tasks really defer to the triggerer while each simulated region downloads the image.
It runs its own cluster: the MGTR, staging and catalog settings must be in every component's
environment from the start.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cs import CloudStack
from sqlalchemy import Engine

from cloudstack_simulator.airflow_connections import airflow_env
from cloudstack_simulator.testing import SimulatorHandle
from meca.mgtr.status import status_rows
from tests.e2e.airflow_cluster import AirflowCluster
from tests.e2e.replication_setup import IMAGE, replication_setup

pytestmark = pytest.mark.e2e

DAG_ID = "meca_template_replication"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def replication_cluster(
    seed_simulator: SimulatorHandle, e2e_data_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AirflowCluster, str]]:
    work = tmp_path_factory.mktemp("replication-e2e")
    with replication_setup(work) as setup:
        env = airflow_env(seed_simulator.endpoints)
        env.update(setup.env)
        env["AIRFLOW_CONN_MECA_DATA"] = json.dumps(
            {"conn_type": "sqlite", "host": e2e_data_engine.url.database}
        )
        with AirflowCluster(
            work / "airflow", dags_folder=REPO / "dags", plugins_folder=REPO / "plugins", env_extra=env
        ) as cluster:
            cluster.wait_for_dag(DAG_ID)
            yield cluster, setup.path


def test_the_template_reaches_ready_in_every_seed_region(
    replication_cluster: tuple[AirflowCluster, str], seed_simulator: SimulatorHandle, e2e_data_engine: Engine
) -> None:
    cluster, path = replication_cluster
    names = [region["name"] for region in seed_simulator.endpoints["regions"]]

    run_id = cluster.trigger(DAG_ID)
    state = cluster.wait_for_run(DAG_ID, run_id, timeout=600)

    # Unpausing the DAG may already have started its latest nightly run (catchup=False), which then
    # did the work: this run either registers everywhere or finds every region Ready.
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in cluster.task_instances(DAG_ID, run_id)}
    assert state == "success", states
    assert not [key for key, value in states.items() if value == "failed"], states
    digest = hashlib.sha256(IMAGE).hexdigest()
    for region in seed_simulator.endpoints["regions"]:
        api = CloudStack(endpoint=region["endpoint"], key=region["api_key"], secret=region["secret_key"])
        ours = [
            t
            for t in api.listTemplates(templatefilter="self").get("template", [])
            if t["details"].get("mgtr_path") == path
        ]
        assert {(t["isready"], t["checksum"]) for t in ours} == {(True, digest)}
    rows = [row for row in status_rows(e2e_data_engine) if row.template_path == path]
    assert sorted(row.region for row in rows) == sorted(names)
    assert {row.state for row in rows} == {"Ready"}
