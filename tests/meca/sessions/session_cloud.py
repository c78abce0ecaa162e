"""A small simulated federation for the session tests, and Connections to it as Airflow reads them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cs import CloudStack

from cloudstack_simulator.airflow_connections import airflow_env, conn_id_for
from cloudstack_simulator.testing import SimulatorHandle
from meca.sessions.tags import vm_name

TEMPLATE = "Ubuntu 22.04"
OFFERING = "Small"


def region_topology(name: str, region_id: int, *, memory_gib: int = 64) -> dict[str, Any]:
    return {
        "name": name,
        "id": region_id,
        "display_name": name.title(),
        "location": {"city": "Torino", "country": "IT", "lat": 45.0 + region_id, "lon": 7.6},
        "colour": "#1f77b4",
        "zones": [
            {
                "name": f"{name}-z1",
                "hosts": [{"name": f"{name}-h1", "cpu_cores": 64, "cpu_mhz": 2000, "memory_gib": memory_gib}],
                "primary_storage_gib": 2000,
                "secondary_storage_gib": 500,
                "management_ips": 10,
                "shared_network_ips": 200,
            }
        ],
    }


def topology(*names: str, deploy_s: float = 0.3, seed: int = 11) -> dict[str, Any]:
    return {
        "seed": seed,
        "service_offerings": [{"name": OFFERING, "cpu_number": 1, "cpu_speed": 1000, "memory": 1024}],
        "templates": [
            {
                "name": TEMPLATE,
                "os_type": "Ubuntu 22.04 LTS",
                "virtual_size_gib": 10,
                "physical_size_mib": 700,
            }
        ],
        "timings": {"deploy_s": deploy_s, "destroy_s": 0.1, "tags_s": 0.05, "stop_s": 0.1, "start_s": 0.1},
        "regions": [region_topology(name, i) for i, name in enumerate(names, start=1)],
    }


def connect_all(handle: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Define every region's Connection (fast polling) and ``meca_regions``; ``{region name: conn id}``."""
    for key, value in airflow_env(handle.endpoints, timeout_s=5.0).items():
        if key.startswith("AIRFLOW_CONN_"):
            conn = json.loads(value)
            conn["extra"].update({"poll_interval": 0.05, "job_timeout": 60.0})
            value = json.dumps(conn)
        monkeypatch.setenv(key, value)
    return {region["name"]: conn_id_for(region["name"]) for region in handle.endpoints["regions"]}


def raw_api(handle: SimulatorHandle, region: str) -> CloudStack:
    """A plain ``cs`` client, independent of the code under test, to look at what the region holds."""
    info = handle.region(region)
    return CloudStack(
        endpoint=info["endpoint"], key=info["api_key"], secret=info["secret_key"], poll_interval=0.05
    )


def vms_of(api: CloudStack, session_id: str | None = None) -> list[dict[str, Any]]:
    """Every VM of the region (or those named for ``session_id``), expunged ones left out."""
    vms = api.listVirtualMachines(listall=True, fetch_list=True)
    return [vm for vm in vms if session_id is None or vm["name"].startswith(vm_name(session_id, 1)[:-2])]
