"""A simulator for the hook tests, and Connections pointing at it set the way Airflow reads them (env)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cloudstack_simulator.airflow_connections import conn_id_for, connections_from_endpoints
from cloudstack_simulator.testing import SimulatorHandle, run_simulator

Connect = Callable[..., str]


def _region(name: str, region_id: int, *, cores: int, memory_gib: int) -> dict[str, Any]:
    return {
        "name": name,
        "id": region_id,
        "display_name": f"{name.title()} display",
        "location": {
            "city": f"{name}-city",
            "country": "IT",
            "lat": 45.0 + region_id,
            "lon": 7.5 + region_id,
        },
        "colour": f"#00aa{region_id:02d}",
        "zones": [
            {
                "name": f"{name}-z1",
                "hosts": [
                    {"name": f"{name}-h1", "cpu_cores": cores, "cpu_mhz": 2000, "memory_gib": memory_gib}
                ],
                "primary_storage_gib": 2000,
                "secondary_storage_gib": 500,
                "management_ips": 10,
                "shared_network_ips": 100,
            }
        ],
    }


TOPOLOGY: dict[str, Any] = {
    "seed": 5,
    "service_offerings": [
        {"name": "Small", "cpu_number": 1, "cpu_speed": 1000, "memory": 1024},
        {"name": "Huge", "cpu_number": 64, "cpu_speed": 2000, "memory": 524288},
    ],
    "templates": [
        {"name": "Ubuntu", "os_type": "Ubuntu 22.04 LTS", "virtual_size_gib": 10, "physical_size_mib": 600}
    ],
    "timings": {"deploy_s": 0.1, "start_s": 0.1, "stop_s": 0.1, "destroy_s": 0.1, "tags_s": 0.05},
    "regions": [
        # "busy" gets VMs; "empty" never does; "faulty" is the only one whose faults tests change.
        _region("busy", 1, cores=32, memory_gib=128),
        _region("empty", 2, cores=8, memory_gib=32),
        _region("faulty", 3, cores=8, memory_gib=32),
    ],
}


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
