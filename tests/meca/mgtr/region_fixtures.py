"""Two simulated regions as Airflow Connections, and an image served by the staging HTTP server."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloudstack_simulator.airflow_connections import airflow_env, conn_id_for
from cloudstack_simulator.testing import SimulatorHandle
from meca.mgtr.publish import serve_staging
from meca.mgtr.register import ImageToRegister


def _region(name: str, region_id: int) -> dict:
    return {
        "name": name,
        "id": region_id,
        "display_name": name,
        "colour": "#336699",
        "location": {"city": "X", "country": "EU", "lat": 45.0, "lon": 7.0},
        "zones": [
            {
                "name": f"{name}-z{n}",
                "hosts": [{"name": f"{name}-h{n}", "cpu_cores": 4, "cpu_mhz": 2000, "memory_gib": 16}],
                "primary_storage_gib": 100,
                "secondary_storage_gib": 100,
                "management_ips": 5,
                "shared_network_ips": 10,
            }
            for n in (1, 2)
        ],
    }


TOPOLOGY = {
    "seed": 3,
    "templates": [],
    "service_offerings": [{"name": "Small", "cpu_number": 1, "cpu_speed": 1000, "memory": 1024}],
    "timings": {"template_delete_s": 0.1},
    "regions": [_region("north", 1), _region("south", 2)],
}


@dataclass
class Regions:
    simulator: SimulatorHandle
    conn_ids: dict[str, str]
    staging: Path
    base_url: str

    def image(self, version: str, data: bytes, **changes: object) -> ImageToRegister:
        path = self.staging / version / "disk.qcow2"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        fields = {
            "template_path": "/MGTR/linux/test",
            "version": version,
            "name": f"test {version}",
            "display_text": f"test image ({version})",
            "os_type": "Debian GNU/Linux 12 (64-bit)",
            "format": "QCOW2",
            "hypervisor": "KVM",
            "url": f"{self.base_url}{version}/disk.qcow2",
            "sha256": hashlib.sha256(data).hexdigest(),
            "keep_versions": 2,
        }
        fields.update(changes)
        return ImageToRegister(**fields)  # type: ignore[arg-type]


def image_data(seed: int) -> bytes:
    return random.Random(seed).randbytes(64_000)


@pytest.fixture
def regions(simulator_factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Regions]:
    simulator = simulator_factory(TOPOLOGY)
    env = airflow_env(simulator.endpoints, timeout_s=5.0)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    conn_ids = {region["name"]: conn_id_for(region["name"]) for region in simulator.endpoints["regions"]}
    with serve_staging(tmp_path / "staging") as staging:
        yield Regions(simulator=simulator, conn_ids=conn_ids, staging=staging.root, base_url=staging.base_url)
