"""What ``meca_template_replication`` needs around a test cluster: an SFTP MGTR, staging HTTP, a catalog.

A demo template is published into a fresh MGTR repository served over SFTP, a staging HTTP server
is started, and a catalog names the template for every region. The settings must be in every
Airflow component's environment from the start, so they are given to the cluster as ``env_extra``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from meca.mgtr.layout import TemplateConfig
from meca.mgtr.publish import serve_staging
from mgtr_repository.publish import publish
from mgtr_repository.server import run_mgtr_server

#: The template image: random bytes, the same in every run.
IMAGE = random.Random(4).randbytes(300_000)
MGTR_CONN_ID = "meca_mgtr"


@dataclass(frozen=True)
class ReplicationSetup:
    """A running MGTR and staging server.

    :param env: the ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` settings of the MGTR, the staging server
        and the catalog, for every Airflow component.
    :param path: the template's MGTR path, as registered templates record it (``mgtr_path``).
    """

    env: dict[str, str]
    path: str


@contextmanager
def replication_setup(work: Path) -> Iterator[ReplicationSetup]:
    """Publish the demo template, serve the MGTR and staging until the block ends.

    :param work: an empty folder for the repository, the servers and the catalog.
    """
    work.mkdir(parents=True, exist_ok=True)
    root = work / "repository"
    image = work / "demo.qcow2"
    image.write_bytes(IMAGE)
    config = TemplateConfig(
        name="demo",
        version="01.00",
        os_type="Ubuntu 22.04",
        format="QCOW2",
        hypervisor="KVM",
        description="demo",
    )
    publish(image, root / "MGTR/demo/01.00", config, volume_size=100_000)
    with run_mgtr_server(root, work / "mgtr") as mgtr, serve_staging(work / "staging") as staging:
        path = mgtr.remote_path("MGTR/demo")
        catalog = work / "catalog.yaml"
        catalog.write_text(
            yaml.safe_dump(
                {
                    "os_types": {"Ubuntu 22.04": "Ubuntu 22.04 LTS"},
                    "templates": [{"path": path, "regions": "all"}],
                }
            )
        )
        env = mgtr.connection_env(MGTR_CONN_ID)
        env["AIRFLOW_CONN_MECA_STAGING_HTTP"] = json.dumps(
            {
                "conn_type": "http",
                "host": staging.base_url,
                "extra": {"root": str(staging.root), "cache": str(work / "cache")},
            }
        )
        env["AIRFLOW_VAR_MECA_TEMPLATES_CATALOG"] = str(catalog)
        yield ReplicationSetup(env=env, path=path)
