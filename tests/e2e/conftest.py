"""Fixtures for end-to-end tests: one real Airflow cluster per session, wired to the seed simulator.

The cluster's metadata database is, in this order: the database named by ``MECA_TEST_E2E_DB_URL``;
the one named by ``MECA_TEST_AIRFLOW_DB_URL`` when the session runs only e2e tests (nothing else
uses it then); otherwise a SQLite file in a temporary folder. The cluster resets a given database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from cloudstack_simulator.airflow_connections import airflow_env
from cloudstack_simulator.testing import SimulatorHandle
from meca.store.migrate import upgrade
from tests.e2e.airflow_cluster import AirflowCluster

REPO = Path(__file__).resolve().parents[2]


def cluster_db_url(session: pytest.Session) -> str | None:
    """The metadata database URL for the cluster, or ``None`` for SQLite (see the module docstring).

    :raises pytest.UsageError: when ``MECA_TEST_E2E_DB_URL`` is the in-process tests' database.
    """
    e2e_url = os.environ.get("MECA_TEST_E2E_DB_URL")
    unit_url = os.environ.get("MECA_TEST_AIRFLOW_DB_URL")
    if e2e_url:
        if e2e_url == unit_url:
            raise pytest.UsageError(
                "MECA_TEST_E2E_DB_URL must name another database than MECA_TEST_AIRFLOW_DB_URL"
            )
        return e2e_url
    only_e2e = all(item.get_closest_marker("e2e") for item in session.items)
    return unit_url if only_e2e else None


@pytest.fixture(scope="session")
def e2e_data_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The cluster's MECA data database: a migrated SQLite file (its Connection is ``meca_data``)."""
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('meca-data') / 'meca-data.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def airflow_cluster(
    seed_simulator: SimulatorHandle,
    e2e_data_engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[AirflowCluster]:
    """Airflow (api-server, scheduler, dag-processor, triggerer) serving ``dags/``, one per session."""
    db_url = cluster_db_url(request.session)
    env = airflow_env(seed_simulator.endpoints)
    env["AIRFLOW_CONN_MECA_DATA"] = json.dumps({"conn_type": "sqlite", "host": e2e_data_engine.url.database})
    with AirflowCluster(
        tmp_path_factory.mktemp("airflow-cluster"),
        dags_folder=REPO / "dags",
        plugins_folder=REPO / "plugins",
        db_url=db_url,
        env_extra=env,
    ) as cluster:
        yield cluster
