"""Helpers for the cloud-model tests: a small fast topology, clients of a running simulator, job polling."""

from __future__ import annotations

import copy
import time
from typing import Any

from cs import CloudStack

from cloudstack_simulator.testing import SimulatorHandle

JOB_DEADLINE_S = 60.0

_SMALL: dict[str, Any] = {
    "seed": 5,
    "service_offerings": [
        {"name": "Small", "cpu_number": 1, "cpu_speed": 1000, "memory": 1024},
        {"name": "Large", "cpu_number": 4, "cpu_speed": 1000, "memory": 8192},
    ],
    "templates": [
        {
            "name": "CentOS-7-x86-64-Minimal-1708",
            "os_type": "CentOS 7",
            "virtual_size_gib": 8,
            "physical_size_mib": 850,
        }
    ],
    "timings": {"deploy_s": 0.3, "start_s": 0.2, "stop_s": 0.2, "destroy_s": 0.2, "tags_s": 0.1},
    "regions": [
        {
            "name": "solo",
            "id": 4,
            "location": {"city": "Torino", "country": "IT", "lat": 45.06, "lon": 7.66},
            "colour": "#123456",
            "zones": [
                {
                    "name": "SoloZone1",
                    "hosts": [
                        {"name": "solo-h1", "cpu_cores": 16, "cpu_mhz": 2000, "memory_gib": 16},
                        {"name": "solo-h2", "cpu_cores": 8, "cpu_mhz": 2000, "memory_gib": 8},
                    ],
                    "primary_storage_gib": 1000,
                    "preallocated_storage_gib": 100,
                    "secondary_storage_gib": 500,
                    "management_ips": 20,
                    "shared_network_ips": 40,
                    "public_ips": 5,
                }
            ],
        }
    ],
}


def small_topology() -> dict[str, Any]:
    """One region ``solo`` with one zone of two hosts (16 GiB + 8 GiB, 24 cores) and fast jobs."""
    return copy.deepcopy(_SMALL)


def client(handle: SimulatorHandle, region: str = "solo") -> CloudStack:
    """The ``cs`` client of one region of a running simulator (polls every 0.1 s)."""
    entry = handle.region(region)
    return CloudStack(
        endpoint=entry["endpoint"],
        key=entry["api_key"],
        secret=entry["secret_key"],
        poll_interval=0.1,
        job_timeout=JOB_DEADLINE_S,
    )


def wait_jobs(api: CloudStack, job_ids: list[str]) -> list[dict[str, Any]]:
    """Poll until every job has finished; their final bodies, in order.

    :raises AssertionError: when one is still running after :data:`JOB_DEADLINE_S` (a hang, not slowness).
    """
    deadline = time.monotonic() + JOB_DEADLINE_S
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(job_ids):
        for job_id in job_ids:
            if job_id not in done:
                body = api.queryAsyncJobResult(jobid=job_id)
                if body["jobstatus"] != 0:
                    done[job_id] = body
        assert time.monotonic() < deadline, f"jobs still running after {JOB_DEADLINE_S} s"
        time.sleep(0.05)
    return [done[j] for j in job_ids]


def ids(api: CloudStack) -> tuple[str, str, str, str]:
    """(zone id, Small offering id, Large offering id, template id) of the small topology."""
    zone = api.listZones()["zone"][0]["id"]
    offerings = {o["name"]: o["id"] for o in api.listServiceOfferings()["serviceoffering"]}
    template = api.listTemplates(templatefilter="featured")["template"][0]["id"]
    return zone, offerings["Small"], offerings["Large"], template


def capacity(api: CloudStack) -> dict[str, dict[str, Any]]:
    """listCapacity of the (single) zone keyed by capacity name."""
    return {c["name"]: c for c in api.listCapacity()["capacity"]}
