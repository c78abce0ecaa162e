"""A small simulated federation for the booking tests: three regions, known templates and offerings."""

from __future__ import annotations

from typing import Any

from cs import CloudStack

OFFERINGS = [
    {"name": "Small", "cpu_number": 1, "cpu_speed": 1000, "memory": 1024},
    {"name": "Large", "cpu_number": 4, "cpu_speed": 2000, "memory": 8192},
]
UBUNTU = {
    "name": "Ubuntu 22.04",
    "os_type": "Ubuntu 22.04 LTS",
    "virtual_size_gib": 10,
    "physical_size_mib": 700,
}
LAB = {"name": "Lab VM", "os_type": "Ubuntu 22.04 LTS", "virtual_size_gib": 10, "physical_size_mib": 700}
# Turin, Budapest, Lisbon: three distinct distances from one another.
PLACES = {
    "MECA-PolITO": (1, 45.06, 7.66, [UBUNTU, LAB]),
    "MECA-BME": (2, 47.47, 19.06, [UBUNTU, LAB]),
    "MECA-Lisboa": (3, 38.72, -9.14, [UBUNTU]),
}


def _region(name: str) -> dict[str, Any]:
    region_id, lat, lon, templates = PLACES[name]
    return {
        "name": name,
        "id": region_id,
        "display_name": name,
        "location": {"city": name, "country": "EU", "lat": lat, "lon": lon},
        "colour": "#336699",
        "templates": templates,
        "zones": [
            {
                "name": f"{name.lower()}-z1",
                "hosts": [{"name": "h1", "cpu_cores": 8, "cpu_mhz": 2000, "memory_gib": 16}],
                "primary_storage_gib": 500,
                "secondary_storage_gib": 200,
                "management_ips": 10,
                "shared_network_ips": 30,
            }
        ],
    }


TOPOLOGY: dict[str, Any] = {
    "seed": 11,
    "service_offerings": OFFERINGS,
    "regions": [_region(name) for name in PLACES],
}


def vm_count(endpoints: dict[str, Any]) -> int:
    """How many VMs exist in every region of the simulator, asked over the real API."""
    total = 0
    for region in endpoints["regions"]:
        client = CloudStack(endpoint=region["endpoint"], key=region["api_key"], secret=region["secret_key"])
        total += len(client.listVirtualMachines(listall=True, fetch_list=True))
    return total
