"""A local MGTR (real SFTP server), a staging HTTP server and a small simulated federation, wired as Airflow
Connections and Variables for ``meca_template_replication`` runs."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cs import CloudStack
from sqlalchemy import Engine

from cloudstack_simulator.airflow_connections import airflow_env
from cloudstack_simulator.testing import SimulatorHandle
from meca.mgtr.layout import TemplateConfig
from meca.mgtr.publish import serve_staging
from mgtr_repository.publish import publish
from mgtr_repository.server import MgtrServerHandle, run_mgtr_server

REGIONS = ["r1", "r2", "r3"]


def region_spec(name: str, region_id: int) -> dict[str, Any]:
    return {
        "name": name,
        "id": region_id,
        "location": {"city": "Somewhere", "country": "EU", "lat": 40.0 + region_id, "lon": 5.0},
        "display_name": name.upper(),
        "colour": "#336699",
        "zones": [
            {
                "name": f"{name}-zone",
                "hosts": [{"name": f"{name}-h1", "cpu_cores": 8, "cpu_mhz": 2000, "memory_gib": 32}],
                "primary_storage_gib": 500,
                "secondary_storage_gib": 200,
                "management_ips": 10,
                "shared_network_ips": 30,
            }
        ],
    }


TOPOLOGY = {
    "seed": 11,
    "templates": [],
    "service_offerings": [{"name": "Small", "cpu_number": 1, "cpu_speed": 1000, "memory": 1024}],
    "timings": {"template_delete_s": 0.1},
    "regions": [region_spec(name, i) for i, name in enumerate(REGIONS, start=1)],
}


def image_bytes(seed: int, size: int = 200_000) -> bytes:
    """A deterministic image, half compressible, half random."""
    block = bytes((seed * 31 + i * 7) % 251 for i in range(1000))
    return (block * (size // 1000 + 1))[: size // 2] + random.Random(seed).randbytes(size - size // 2)


@dataclass
class Federation:
    """Everything a replication test needs."""

    simulator: SimulatorHandle
    mgtr: MgtrServerHandle
    mgtr_root: Path
    staging_root: Path
    cache: Path
    catalog_path: Path
    images: dict[str, bytes]

    def api(self, region: str) -> CloudStack:
        info = self.simulator.region(region)
        return CloudStack(endpoint=info["endpoint"], key=info["api_key"], secret=info["secret_key"])

    def templates(self, region: str) -> list[dict[str, Any]]:
        answer = self.api(region).listTemplates(templatefilter="self")
        return list({t["id"]: t for t in answer.get("template", [])}.values())

    def path(self, relative: str) -> str:
        """The MGTR path a catalog names for ``relative`` (the server's view of the root)."""
        return self.mgtr.remote_path(relative)

    def publish(self, relative: str, name: str, version: str, data: bytes, **options: Any) -> Path:
        image = self.mgtr_root.parent / "images" / f"{name}.qcow2"
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(data)
        config = TemplateConfig(
            name=name,
            version=version,
            os_type="Ubuntu 22",
            format="QCOW2",
            hypervisor="KVM",
            description=f"{name} test image",
        )
        target = self.mgtr_root / relative / version
        publish(image, target, config, volume_size=options.pop("volume_size", 48_000), **options)
        self.images[f"{relative}/{version}"] = data
        return target

    def write_catalog(self, relatives: list[str], keep_versions: int = 2) -> None:
        catalog = {
            "keep_versions": keep_versions,
            "os_types": {"Ubuntu 22": "Ubuntu 22.04 LTS"},
            "templates": [{"path": self.path(r), "regions": "all"} for r in relatives],
        }
        self.catalog_path.write_text(yaml.safe_dump(catalog))


@pytest.fixture
def federation(
    simulator_factory,
    data_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    airflow_pools: None,
    tmp_path: Path,
) -> Iterator[Federation]:
    simulator = simulator_factory(TOPOLOGY)
    for key, value in airflow_env(simulator.endpoints, timeout_s=5.0).items():
        monkeypatch.setenv(key, value)
    url = data_engine.url
    if url.get_backend_name() == "sqlite":
        data_conn: dict[str, Any] = {"conn_type": "sqlite", "host": url.database}
    else:
        data_conn = {
            "conn_type": "postgres",
            "host": url.host,
            "port": url.port,
            "login": url.username,
            "schema": url.database,
        }
    monkeypatch.setenv("AIRFLOW_CONN_MECA_DATA", json.dumps(data_conn))
    mgtr_root = tmp_path / "repository"
    mgtr_root.mkdir()
    with (
        run_mgtr_server(mgtr_root, tmp_path / "mgtr-server") as mgtr,
        serve_staging(tmp_path / "staging") as staging,
    ):
        for key, value in mgtr.connection_env("meca_mgtr").items():
            monkeypatch.setenv(key, value)
        staging_conn = {
            "conn_type": "http",
            "host": staging.base_url,
            "extra": {"root": str(staging.root), "cache": str(tmp_path / "cache")},
        }
        monkeypatch.setenv("AIRFLOW_CONN_MECA_STAGING_HTTP", json.dumps(staging_conn))
        catalog_path = tmp_path / "catalog.yaml"
        monkeypatch.setenv("AIRFLOW_VAR_MECA_TEMPLATES_CATALOG", str(catalog_path))
        yield Federation(
            simulator=simulator,
            mgtr=mgtr,
            mgtr_root=mgtr_root,
            staging_root=staging.root,
            cache=tmp_path / "cache",
            catalog_path=catalog_path,
            images={},
        )
