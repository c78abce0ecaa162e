"""Fixtures for end-to-end tests: one real Airflow cluster per session, wired to the seed simulator.

The cluster's metadata database is, in this order: the database named by ``MECA_TEST_E2E_DB_URL``;
the one named by ``MECA_TEST_AIRFLOW_DB_URL`` when the session runs only e2e tests (nothing else
uses it then); otherwise a SQLite file in a temporary folder. The cluster resets a given database.

``fab_airflow_cluster`` is the same cluster with the FAB auth manager (the admin and the MECA roles;
tests add users with :meth:`AirflowCluster.create_user`) and a MECA data database of its own. It may
run beside ``airflow_cluster`` in one session, so on PostgreSQL its metadata database is a fresh one
on the same server (dropped at the end); otherwise a SQLite file.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

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


def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory, name: str) -> Engine:
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp(name) / 'meca-data.db'}")
    upgrade(engine)
    return engine


@pytest.fixture(scope="session")
def e2e_data_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The cluster's MECA data database: a migrated SQLite file (its Connection is ``meca_data``)."""
    engine = _migrated_sqlite(tmp_path_factory, "meca-data")
    yield engine
    engine.dispose()


def _cluster(
    seed_simulator: SimulatorHandle,
    data_engine: Engine,
    workdir: Path,
    db_url: str | None,
    auth_manager: str = "simple",
) -> AirflowCluster:
    env = airflow_env(seed_simulator.endpoints)
    env["AIRFLOW_CONN_MECA_DATA"] = json.dumps({"conn_type": "sqlite", "host": data_engine.url.database})
    return AirflowCluster(
        workdir,
        dags_folder=REPO / "dags",
        plugins_folder=REPO / "plugins",
        db_url=db_url,
        env_extra=env,
        auth_manager=auth_manager,
    )


@pytest.fixture(scope="session")
def airflow_cluster(
    seed_simulator: SimulatorHandle,
    e2e_data_engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[AirflowCluster]:
    """Airflow (api-server, scheduler, dag-processor, triggerer) serving ``dags/``, one per session."""
    db_url = cluster_db_url(request.session)
    workdir = tmp_path_factory.mktemp("airflow-cluster")
    with _cluster(seed_simulator, e2e_data_engine, workdir, db_url) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def fab_data_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The FAB cluster's MECA data database: a migrated SQLite file of its own."""
    engine = _migrated_sqlite(tmp_path_factory, "fab-meca-data")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def fab_cluster_db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` (SQLite) or a fresh database next to the e2e cluster's PostgreSQL one, dropped at the end."""
    beside = cluster_db_url(request.session)
    if beside is None or beside.startswith("sqlite"):
        yield None
        return
    name = f"meca_e2e_fab_{uuid.uuid4().hex[:10]}"
    admin = create_engine(beside, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(beside).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def fab_airflow_cluster(
    seed_simulator: SimulatorHandle,
    fab_data_engine: Engine,
    fab_cluster_db_url: str | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AirflowCluster]:
    """The same cluster with the FAB auth manager (admin and MECA roles), one per session."""
    workdir = tmp_path_factory.mktemp("fab-airflow-cluster")
    with _cluster(seed_simulator, fab_data_engine, workdir, fab_cluster_db_url, "fab") as cluster:
        yield cluster
