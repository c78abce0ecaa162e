"""A simulator for the hook tests, and Connections pointing at it set the way Airflow reads them (env)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cloudstack_simulator.airflow_connections import conn_id_for, connections_from_endpoints
from cloudstack_simulator.testing import (
    SMALL_OFFERING,
    SimulatorHandle,
    region_mapping,
    run_simulator,
    topology_mapping,
)

Connect = Callable[..., str]


TOPOLOGY: dict[str, Any] = topology_mapping(
    [
        # "busy" gets VMs; "empty" never does; "faulty" is the only one whose faults tests change.
        region_mapping("busy", 1, cpu_cores=32, memory_gib=128),
        region_mapping("empty", 2, cpu_cores=8, memory_gib=32),
        region_mapping("faulty", 3, cpu_cores=8, memory_gib=32),
    ],
    seed=5,
    service_offerings=[
        SMALL_OFFERING,
        {"name": "Huge", "cpu_number": 64, "cpu_speed": 2000, "memory": 524288},
    ],
)


@pytest.fixture(scope="session")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    """One simulator subprocess for every hook test."""
    with run_simulator(TOPOLOGY, tmp_path_factory.mktemp("hook-simulator")) as handle:
        yield handle


@pytest.fixture
def faulty(simulator: SimulatorHandle) -> Iterator[SimulatorHandle]:
    """The simulator, with the faults of region ``faulty`` cleared again after the test."""
    yield simulator
    simulator.control.set_faults(
        "faulty", down=False, latency_s=0.0, error_rate=0.0, deploy_failure_rate=0.0, job_slowdown=1.0
    )


@pytest.fixture
def connect(simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Connect:
    """``connect(region, *, password=None, host=None, **extra) -> conn_id``.

    Defines the region's Connection as ``AIRFLOW_CONN_<ID>`` JSON (the simulator's own export,
    fast polling), with fields or extra keys overridden.
    """

    def define(region: str, *, password: str | None = None, host: str | None = None, **extra: Any) -> str:
        conn_id = conn_id_for(region)
        conn = connections_from_endpoints(simulator.endpoints)[conn_id]
        conn["extra"].update({"poll_interval": 0.05, "timeout": 5.0, "job_timeout": 30.0, **extra})
        if password is not None:
            conn["password"] = password
        if host is not None:
            conn["host"] = host
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    return define


@pytest.fixture(scope="session")
def ids(simulator: SimulatorHandle) -> Callable[[str], dict[str, str]]:
    """``ids(region) -> {"zoneid", "templateid", "small", "huge"}`` read once per region over the API."""
    from cs import CloudStack

    found: dict[str, dict[str, str]] = {}

    def lookup(region: str) -> dict[str, str]:
        if region not in found:
            info = simulator.region(region)
            api = CloudStack(endpoint=info["endpoint"], key=info["api_key"], secret=info["secret_key"])
            offerings = {o["name"]: o["id"] for o in api.listServiceOfferings()["serviceoffering"]}
            found[region] = {
                "zoneid": api.listZones()["zone"][0]["id"],
                "templateid": api.listTemplates(templatefilter="featured")["template"][0]["id"],
                "small": offerings["Small"],
                "huge": offerings["Huge"],
            }
        return found[region]

    return lookup
