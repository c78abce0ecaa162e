"""Test session set-up: a private AIRFLOW_HOME and metadata database, before Airflow is imported.

The metadata database is SQLite in a temporary folder unless ``MECA_TEST_AIRFLOW_DB_URL`` names
another one (``.ci/run`` points it at PostgreSQL). The MECA data database fixtures run on SQLite and
on PostgreSQL: ``MECA_TEST_POSTGRES_URL`` (then it must answer: CI sets it), else
``postgresql+psycopg2://postgres@127.0.0.1:5432/postgres`` when that answers; each test session gets
its own database, dropped at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from cloudstack_simulator.testing import SimulatorHandle, run_simulator
from meca.store.engine import connection_fields
from meca.store.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
_HOME = tempfile.mkdtemp(prefix="meca-airflow-test-home-")
os.environ.update(
    {
        "AIRFLOW_HOME": _HOME,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ.get(
            "MECA_TEST_AIRFLOW_DB_URL", f"sqlite:///{_HOME}/airflow.db"
        ),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """An initialised (reset, when it is a shared server) Airflow metadata database."""
    from airflow.utils import db

    if "MECA_TEST_AIRFLOW_DB_URL" in os.environ:
        db.resetdb()
    else:
        db.initdb()


@pytest.fixture(scope="session")
def dagbag(airflow_db: None):
    """Every DAG in ``dags/``, parsed once."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture(scope="session")
def airflow_pools(airflow_db: None) -> None:
    """The pools of ``include/pools.json``: ``dag.test()`` ignores pools, but a task instance needs one."""
    import json

    from airflow.models.pool import Pool

    for name, pool in json.loads((REPO / "include" / "pools.json").read_text()).items():
        Pool.create_or_update_pool(
            name,
            slots=pool["slots"],
            description=pool["description"],
            include_deferred=pool["include_deferred"],
        )


@pytest.fixture
def simulator_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], SimulatorHandle]]:
    """``simulator_factory(topology_mapping) -> SimulatorHandle``: simulators stopped at teardown."""
    with contextlib.ExitStack() as stack:
        started = 0

        def start(topology: dict[str, Any]) -> SimulatorHandle:
            nonlocal started
            started += 1
            return stack.enter_context(run_simulator(topology, tmp_path / f"simulator-{started}"))

        yield start


@pytest.fixture(scope="session")
def seed_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    """The MECA seed federation (``cloudstack_simulator/topologies/meca_seed.yaml``), one per session.

    Tests must leave its faults as they found them. The moving background load is switched off so
    that figures read a few seconds apart agree.
    """
    topology = yaml.safe_load((REPO / "cloudstack_simulator" / "topologies" / "meca_seed.yaml").read_text())
    topology.pop("background_load", None)
    with run_simulator(topology, tmp_path_factory.mktemp("seed-simulator")) as handle:
        yield handle


DEFAULT_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database for this session (skips when none answers)."""
    required = "MECA_TEST_POSTGRES_URL" in os.environ
    admin_url = make_url(os.environ.get("MECA_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        if required:
            raise
        pytest.skip(f"no PostgreSQL at {admin_url.render_as_string()}: {exc.orig}")
    name = f"meca_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def data_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty MECA data database on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'meca-data.db'}")
    else:
        server_url = request.getfixturevalue("postgres_server_url")
        engine = create_engine(server_url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def meca_data(data_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """``data_engine``, also named by the Connection ``meca_data`` the DAGs read."""
    import json

    monkeypatch.setenv("AIRFLOW_CONN_MECA_DATA", json.dumps(connection_fields(data_engine.url)))
    return data_engine


@pytest.fixture
def sqlite_meca_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A migrated SQLite MECA data database named by the Connection ``meca_data``."""
    import json

    engine = create_engine(f"sqlite:///{tmp_path / 'meca-data.db'}")
    upgrade(engine)
    monkeypatch.setenv("AIRFLOW_CONN_MECA_DATA", json.dumps(connection_fields(engine.url)))
    yield engine
    engine.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)
