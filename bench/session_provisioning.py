"""Benchmark: a classroom's VMs deployed (and torn down) in parallel, against one VM alone.

Starts the CloudStack simulator with one region whose deploys take 20 s (the seed's Budapest
session: 18 VMs), then times :func:`meca.sessions.provision.provision_session` until every VM is
Running, for 1 VM and for 18 VMs, and :func:`meca.sessions.teardown.teardown_session` for each.
Job polling every 0.5 s. Target: 18 VMs take at most 1.3 times as long as one, both ways.

    .venv/bin/python bench/session_provisioning.py                 # 20 s deploys (about 1 minute)
    .venv/bin/python bench/session_provisioning.py --deploy-s 2    # quicker, for CI
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

from cloudstack_simulator.airflow_connections import airflow_env, conn_id_for  # noqa: E402
from cloudstack_simulator.testing import run_simulator  # noqa: E402
from meca.cloudstack.async_hook import CloudStackAsyncHook  # noqa: E402
from meca.sessions.provision import provision_session, resolve_spec  # noqa: E402
from meca.sessions.teardown import teardown_session  # noqa: E402

TARGET_RATIO = 1.3
CLASS_SIZE = 18
REGION = "MECA-BME"


def topology(deploy_s: float) -> dict[str, Any]:
    return {
        "seed": 3,
        "service_offerings": [{"name": "Small", "cpu_number": 1, "cpu_speed": 1000, "memory": 1024}],
        "templates": [
            {
                "name": "Ubuntu 22.04",
                "os_type": "Ubuntu 22.04 LTS",
                "virtual_size_gib": 10,
                "physical_size_mib": 700,
            }
        ],
        "timings": {"deploy_s": deploy_s, "destroy_s": deploy_s / 4, "tags_s": 0.5},
        "regions": [
            {
                "name": REGION,
                "id": 1,
                "display_name": "Budapest",
                "location": {"city": "Budapest", "country": "HU", "lat": 47.47, "lon": 19.06},
                "colour": "#2ca02c",
                "zones": [
                    {
                        "name": "bme-z1",
                        "hosts": [{"name": "h1", "cpu_cores": 64, "cpu_mhz": 2400, "memory_gib": 256}],
                        "primary_storage_gib": 4000,
                        "secondary_storage_gib": 1000,
                        "management_ips": 10,
                        "shared_network_ips": 100,
                    }
                ],
            }
        ],
    }


async def session_timings(hook: CloudStackAsyncHook, session_id: str, count: int) -> tuple[float, float]:
    """Seconds to provision ``count`` VMs (all Running) and to tear them down."""
    spec = await resolve_spec(hook, template="Ubuntu 22.04", offering="Small")
    started = time.perf_counter()
    report = await provision_session(hook, session_id, count, spec)
    provisioned = time.perf_counter() - started
    if len(report.vms) != count or {vm["state"] for vm in report.vms} != {"Running"}:
        raise RuntimeError(f"expected {count} Running VMs, got {report.vms}")
    started = time.perf_counter()
    torn = await teardown_session(hook, session_id)
    torn_down = time.perf_counter() - started
    if len(torn.destroyed) != count:
        raise RuntimeError(f"expected {count} VMs destroyed, got {len(torn.destroyed)}")
    return provisioned, torn_down


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploy-s", type=float, default=20.0, help="simulated deploy time (default 20)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="meca-bench-") as workdir,
        run_simulator(topology(args.deploy_s), Path(workdir)) as simulator,
    ):
        for key, value in airflow_env(simulator.endpoints, timeout_s=10.0).items():
            if key.startswith("AIRFLOW_CONN_"):
                conn = json.loads(value)
                conn["extra"]["poll_interval"] = 0.5
                value = json.dumps(conn)
            os.environ[key] = value
        hook = CloudStackAsyncHook(conn_id_for(REGION))
        one = asyncio.run(session_timings(hook, "bench__one", 1))
        many = asyncio.run(session_timings(hook, "bench__class", CLASS_SIZE))
    ratios = (many[0] / one[0], many[1] / one[1])
    print(f"deploy {args.deploy_s:g} s, destroy {args.deploy_s / 4:g} s, job polling 0.5 s")
    print(f"{'':12} {'1 VM':>8} {f'{CLASS_SIZE} VMs':>8} {'ratio':>6}  target <= {TARGET_RATIO}")
    for label, single, class_, ratio in zip(("provision", "teardown"), one, many, ratios, strict=True):
        verdict = "ok" if ratio <= TARGET_RATIO else "OVER"
        print(f"{label:12} {single:7.2f}s {class_:7.2f}s {ratio:6.2f}  {verdict}")
    return 0 if max(ratios) <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
