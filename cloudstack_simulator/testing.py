"""Start the simulator as a subprocess for tests, the demo, benchmarks and the real-Airflow harness."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cloudstack_simulator.control import SimulatorControl

START_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
_POLL_S = 0.05
_PACKAGE_PARENT = Path(__file__).resolve().parents[1]


SMALL_OFFERING: dict[str, Any] = {"name": "Small", "cpu_number": 1, "cpu_speed": 1000, "memory": 1024}
UBUNTU_TEMPLATE: dict[str, Any] = {
    "name": "Ubuntu",
    "os_type": "Ubuntu 22.04 LTS",
    "virtual_size_gib": 10,
    "physical_size_mib": 600,
}
FAST_TIMINGS: dict[str, float] = {
    "deploy_s": 0.1,
    "start_s": 0.1,
    "stop_s": 0.1,
    "destroy_s": 0.1,
    "tags_s": 0.05,
}


def region_mapping(
    name: str,
    region_id: int,
    *,
    zones: int = 1,
    cpu_cores: int = 16,
    cpu_mhz: int = 2000,
    memory_gib: int = 64,
) -> dict[str, Any]:
    """A small valid region of the topology format: ``zones`` zones of one host each.

    :param name: the region's name; zones are ``<name>-z1``…, hosts ``<name>-z1-h1``….
    :param region_id: its CloudStack id (also shifts its latitude, so regions are at distinct places).
    """
    return {
        "name": name,
        "id": region_id,
        "display_name": f"{name.title()} DC",
        "location": {"city": f"{name}-city", "country": "IT", "lat": 40.0 + region_id, "lon": 7.5},
        "colour": f"#1f77b{region_id % 10}",
        "zones": [
            {
                "name": f"{name}-z{z}",
                "hosts": [
                    {
                        "name": f"{name}-z{z}-h1",
                        "cpu_cores": cpu_cores,
                        "cpu_mhz": cpu_mhz,
                        "memory_gib": memory_gib,
                    }
                ],
                "primary_storage_gib": 1000,
                "secondary_storage_gib": 500,
                "management_ips": 10,
                "shared_network_ips": 50,
            }
            for z in range(1, zones + 1)
        ],
    }


def topology_mapping(regions: list[dict[str, Any]], *, seed: int = 1, **overrides: Any) -> dict[str, Any]:
    """A topology of ``regions`` with a Small offering, an Ubuntu template and fast jobs.

    :param overrides: top-level keys replacing those defaults (``service_offerings``, ``templates``, ...).
    """
    return {
        "seed": seed,
        "service_offerings": [SMALL_OFFERING],
        "templates": [UBUNTU_TEMPLATE],
        "timings": FAST_TIMINGS,
        "regions": regions,
        **overrides,
    }


@dataclass
class SimulatorHandle:
    """A running simulator subprocess.

    :param endpoints: the parsed endpoints file (regions with endpoint and keys, admin URL, seed, pid).
    :param control: a client of its admin API.
    :param process: the subprocess.
    :param log_path: where its stdout and stderr go.
    """

    endpoints: dict[str, Any]
    control: SimulatorControl
    process: subprocess.Popen[bytes]
    log_path: Path

    def region(self, name: str) -> dict[str, Any]:
        """One region's entry of the endpoints file.

        :param name: the region's name.
        :raises KeyError: naming the known regions when there is no such region.
        """
        for region in self.endpoints["regions"]:
            if region["name"] == name:
                return region
        raise KeyError(f"no region {name!r}; known: {[r['name'] for r in self.endpoints['regions']]}")


@contextlib.contextmanager
def run_simulator(
    topology: Path | dict[str, Any],
    workdir: Path,
    *,
    seed: int | None = None,
    housekeeping_interval_s: float | None = None,
) -> Iterator[SimulatorHandle]:
    """Run ``python -m cloudstack_simulator`` in its own process group until the block ends.

    :param topology: a topology YAML file, or its mapping (written to ``workdir/topology.yaml``).
    :param workdir: where the topology copy, the endpoints file and ``simulator.log`` go.
    :param seed: overrides the topology's seed.
    :param housekeeping_interval_s: seconds between housekeeping rounds (the CLI default when ``None``).
    :raises RuntimeError: when the simulator exits or is not ready within 30 s (with its log).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    if isinstance(topology, dict):
        topology_path = workdir / "topology.yaml"
        topology_path.write_text(yaml.safe_dump(topology, sort_keys=False))
    else:
        topology_path = topology
    endpoints_path = workdir / "endpoints.json"
    endpoints_path.unlink(missing_ok=True)
    log_path = workdir / "simulator.log"
    command = [sys.executable, "-m", "cloudstack_simulator", "--topology", str(topology_path)]
    command += ["--endpoints-file", str(endpoints_path)]
    if seed is not None:
        command += ["--seed", str(seed)]
    if housekeeping_interval_s is not None:
        command += ["--housekeeping-interval", str(housekeeping_interval_s)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE_PARENT), env.get("PYTHONPATH")]))
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        endpoints = _wait_for_endpoints(process, endpoints_path, log_path)
        yield SimulatorHandle(endpoints, SimulatorControl(endpoints["admin"]), process, log_path)
    finally:
        _stop(process)


def _wait_for_endpoints(process: subprocess.Popen[bytes], path: Path, log_path: Path) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        if process.poll() is not None:
            raise RuntimeError(
                f"the simulator exited with status {process.returncode} before it was ready:\n"
                f"{log_path.read_text(errors='replace')}"
            )
        time.sleep(_POLL_S)
    raise RuntimeError(
        f"the simulator wrote no {path} within {START_TIMEOUT_S:.0f} s:\n"
        f"{log_path.read_text(errors='replace')}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL it after :data:`STOP_GRACE_S`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
