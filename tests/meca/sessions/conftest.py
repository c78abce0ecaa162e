from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudstack_simulator.airflow_connections import airflow_env
from cloudstack_simulator.testing import SimulatorHandle, run_simulator
from tests.meca.sessions.federation import TOPOLOGY


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    """The three-region simulator, with its Connections and ``meca_regions`` in the environment."""
    workdir = tmp_path_factory.mktemp("sessions-simulator")
    with run_simulator(TOPOLOGY, workdir) as handle, pytest.MonkeyPatch.context() as patch:
        for key, value in airflow_env(handle.endpoints, timeout_s=2.0).items():
            patch.setenv(key, value)
        yield handle


@pytest.fixture
def endpoints(federation: SimulatorHandle) -> dict[str, Any]:
    return federation.endpoints


@pytest.fixture
def repo() -> Path:
    return Path(__file__).resolve().parents[3]
