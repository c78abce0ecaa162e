"""Test session set-up: a private AIRFLOW_HOME and metadata database, before Airflow is imported.

The metadata database is SQLite in a temporary folder unless ``MECA_TEST_AIRFLOW_DB_URL`` names
another one (``.ci/run`` points it at PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

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
def airflow_db() -> Iterator[None]:
    """An initialised (reset, when it is a shared server) Airflow metadata database."""
    from airflow.utils import db

    if "MECA_TEST_AIRFLOW_DB_URL" in os.environ:
        db.resetdb()
    else:
        db.initdb()
    yield


@pytest.fixture(scope="session")
def dagbag(airflow_db: None):
    """Every DAG in ``dags/``, parsed once."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)
