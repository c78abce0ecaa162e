"""The dashboard inside Airflow's own api-server app, and a small federation stored in the data DB.

``airflow_api`` builds ``airflow.api_fastapi.app.create_app()`` (which mounts the plugins) with the
SimpleAuthManager and a ``viewer`` user, the weakest role: the dashboard asks only for *some*
authenticated user. ``federation`` writes the regions below with the lead's ``write_sample`` /
``write_error`` into the ``data_engine`` database (SQLite, and PostgreSQL when one answers) and points
the api-server at it through ``MECA_DATA_DB_URL``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from meca.metrics.collect import Offering, RegionSample, ZoneCapacity
from meca.metrics.samples import write_error, write_sample
from meca.regions import Region
from meca.store.migrate import upgrade
from tests.meca.web.simple_auth_api import logged_in_api_server

PREFIX = "/meca/dashboard"
USERNAME = "viewer1"
GIB = 1024**3

#: region -> zone -> capacity type -> (used, total), in the types' units (bytes, MHz, count).
CAPACITY: dict[str, dict[str, dict[int, tuple[int, int]]]] = {
    "alpha": {
        "alpha-z1": {
            0: (8 * GIB, 64 * GIB),
            1: (4000, 32000),
            2: (300 * GIB, 1000 * GIB),
            3: (200 * GIB, 2000 * GIB),
            4: (3, 10),
            5: (5, 15),
            6: (50 * GIB, 300 * GIB),
            8: (7, 60),
        },
        "alpha-z2": {
            0: (4 * GIB, 32 * GIB),
            1: (2000, 16000),
            2: (100 * GIB, 800 * GIB),
            3: (100 * GIB, 1000 * GIB),
            5: (2, 10),
            6: (10 * GIB, 200 * GIB),
            8: (1, 40),
        },
    },
    "beta": {
        "beta-z1": {
            0: (30 * GIB, 32 * GIB),
            1: (15000, 16000),
            2: (900 * GIB, 1024 * GIB),
            3: (500 * GIB, 1024 * GIB),
            5: (9, 10),
            6: (100 * GIB, 100 * GIB),
            8: (20, 20),
        }
    },
    "gamma": {"gamma-z1": {0: (1 * GIB, 16 * GIB), 1: (1000, 8000), 5: (1, 5)}},
    "delta": {"delta-z1": {0: (2 * GIB, 16 * GIB), 1: (500, 8000)}},
}
OFFERINGS = [Offering("o-small", "Small", 1, 1000, 1024), Offering("o-large", "Large", 4, 2000, 8192)]
VM_STATES = {"alpha": {"Running": 3, "Stopped": 1}, "beta": {"Running": 12}}
GAMMA_ERROR = "region gamma: listCapacity: connection refused (http://127.0.0.1:9/client/api)"


def region(name: str) -> Region:
    number = list(CAPACITY).index(name) + 1
    return Region(
        conn_id=f"cloudstack_{name}",
        name=name,
        region_id=number,
        display_name=f"{name.title()} University",
        city="Torino",
        country="IT",
        lat=45.0,
        lon=7.0 + number,
        colour=f"#00{number}0aa",
    )


def sample(name: str, *, scale: float = 1.0) -> RegionSample:
    """The stored sample of region ``name`` (``scale`` multiplies every used value, for history)."""
    capacities = [
        ZoneCapacity(
            f"{zone}-id", zone, kind, int(used * scale), None, total, round(100 * used * scale / total, 2)
        )
        for zone, types in CAPACITY[name].items()
        for kind, (used, total) in types.items()
    ]
    return RegionSample(
        region=region(name),
        capacities=capacities,
        vm_states=VM_STATES.get(name, {}),
        offerings=OFFERINGS,
        latency_ms=12.5,
        api_calls=3,
    )


def region_total(name: str, kind: int) -> tuple[int, int]:
    """``(used, total)`` of a region's type, zones summed, computed from :data:`CAPACITY`."""
    pairs = [types[kind] for types in CAPACITY[name].values() if kind in types]
    return sum(u for u, _ in pairs), sum(t for _, t in pairs)


@dataclass(frozen=True)
class Federation:
    """What ``federation`` stored: the data DB and the sample times."""

    engine: Engine
    now: datetime
    fresh_at: datetime
    gamma_ok_at: datetime
    delta_ok_at: datetime


@pytest.fixture
def federation(data_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Federation:
    """alpha and beta fresh; gamma failed its latest sweep (ok 30 min ago); delta silent for 20 min.

    alpha also has two older samples (2 h and 1 h ago, used scaled by 0.5 and 0.75) for the 24 h history.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    fed = Federation(
        engine=data_engine,
        now=now,
        fresh_at=now - timedelta(minutes=1),
        gamma_ok_at=now - timedelta(minutes=30),
        delta_ok_at=now - timedelta(minutes=20),
    )
    write_sample(data_engine, sample("alpha", scale=0.5), now - timedelta(hours=2))
    write_sample(data_engine, sample("alpha", scale=0.75), now - timedelta(hours=1))
    write_sample(data_engine, sample("alpha"), fed.fresh_at)
    write_sample(data_engine, sample("beta"), fed.fresh_at)
    write_sample(data_engine, sample("gamma"), fed.gamma_ok_at)
    write_error(data_engine, region("gamma"), fed.fresh_at, GAMMA_ERROR)
    write_sample(data_engine, sample("delta"), fed.delta_ok_at)
    monkeypatch.setenv("MECA_DATA_DB_URL", data_engine.url.render_as_string(hide_password=False))
    return fed


@dataclass
class Api:
    """A client of the in-process api-server and a viewer's token."""

    client: TestClient
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **params: str | int) -> httpx.Response:
        """``GET <prefix><path>`` with the viewer's token and query ``params``."""
        return self.client.get(PREFIX + path, headers=self.auth, params=params)


@pytest.fixture(scope="module")
def airflow_api(airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Airflow's api-server app (plugins mounted), SimpleAuthManager, one ``viewer`` user logged in."""
    with logged_in_api_server({USERNAME: "viewer"}, tmp_path_factory.mktemp("auth")) as (client, tokens):
        yield Api(client, tokens[USERNAME])


@pytest.fixture(scope="module")
def session_dag_in_db(airflow_db: None) -> None:
    """The DAGs of ``dags/`` written into the metadata database, as ``dag.test()`` writes them."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    for bundle in manager.get_all_dag_bundles():
        bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        assert "meca_classroom_session" in bag.dags, bag.import_errors
        sync_bag_to_db(bag, bundle.name, bundle.version)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A migrated SQLite MECA data database, the one the web apps read (``MECA_DATA_DB_URL``)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'meca-data.db'}")
    upgrade(engine)
    monkeypatch.setenv("MECA_DATA_DB_URL", engine.url.render_as_string(hide_password=False))
    yield engine
    engine.dispose()


def set_session_dag_paused(paused: bool) -> None:
    """Pause or unpause ``meca_classroom_session`` in the metadata database (see ``session_dag_in_db``)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(DagModel).where(DagModel.dag_id == "meca_classroom_session").values(is_paused=paused)
        )


@pytest.fixture
def session_dag_unpaused(session_dag_in_db: None) -> Iterator[None]:
    """``meca_classroom_session`` unpaused for the test (a new DAG is paused), paused again after it."""
    set_session_dag_paused(False)
    yield
    set_session_dag_paused(True)
