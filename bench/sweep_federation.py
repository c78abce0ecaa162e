"""Benchmark: one ``meca_metrics_sweep`` over a federation of 100 simulated regions in real Airflow.

Starts the CloudStack simulator with N small regions (one zone, one host each) whose every API
answer waits ``--latency`` seconds (``faults.latency_s``, default 0.3), then a real multi-process
Airflow (``tests/e2e/airflow_cluster.AirflowCluster``: api-server, scheduler, dag-processor,
triggerer; LocalExecutor) serving ``dags/``, with the region Connections, the ``meca_regions``
Variable and the ``meca_data`` Connection. Airflow's metadata database and the MECA data database
are scratch PostgreSQL databases (dropped at the end) when PostgreSQL answers at
``--admin-url``, else SQLite files.

Unpausing the DAG makes the scheduler start the sweep of the latest 5-minute tick at once (no
catch-up); the benchmark waits for it, then triggers one more run over REST. For each run it
reports the run's wall time (Airflow's start to end of the run) and the API calls each region
received during it, counted by the simulator (admin API ``requests``), against the targets:
wall time under 60 s and at most 3 API calls per region per sweep. The judged run is the triggered
one. ``--short`` (20 regions, for CI) fails only on gross regressions: a wall time over 3x the
target, or more than 3 calls for a region.

    .venv/bin/python bench/sweep_federation.py            # 100 regions (a few minutes)
    .venv/bin/python bench/sweep_federation.py --short    # 20 regions
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

from sqlalchemy import create_engine, make_url, text  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from cloudstack_simulator.airflow_connections import airflow_env  # noqa: E402
from cloudstack_simulator.control import SimulatorControl  # noqa: E402
from cloudstack_simulator.testing import run_simulator  # noqa: E402
from meca.store.engine import engine_for_url  # noqa: E402
from meca.store.migrate import upgrade  # noqa: E402
from tests.e2e.airflow_cluster import AirflowCluster  # noqa: E402

DAG_ID = "meca_metrics_sweep"
POOL = "cloudstack_api"
DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
TARGET_WALL_S = 60.0
TARGET_CALLS = 3
SHORT_FACTOR = 3.0
SHORT_REGIONS = 20
RUN_TIMEOUT_S = 900.0


def federation(regions: int, latency_s: float) -> dict[str, Any]:
    """A topology of ``regions`` small regions, each answering every API call after ``latency_s``."""
    return {
        "seed": 20240501,
        "service_offerings": [{"name": "Small", "cpu_number": 1, "cpu_speed": 1000, "memory": 1024}],
        "templates": [
            {"name": "CentOS-7", "os_type": "CentOS 7", "virtual_size_gib": 8, "physical_size_mib": 850}
        ],
        "regions": [
            {
                "name": f"bench-{number:03d}",
                "id": number,
                "location": {
                    "city": f"City {number}",
                    "country": "EU",
                    "lat": 35 + number % 30,
                    "lon": number % 40,
                },
                "colour": f"#{number * 2654435761 % 0xFFFFFF:06x}",
                "faults": {"latency_s": latency_s},
                "zones": [
                    {
                        "name": f"bench-{number:03d}-z1",
                        "hosts": [{"name": f"h{number}", "cpu_cores": 16, "cpu_mhz": 2000, "memory_gib": 64}],
                        "primary_storage_gib": 2000,
                        "secondary_storage_gib": 500,
                        "management_ips": 10,
                        "shared_network_ips": 100,
                    }
                ],
            }
            for number in range(1, regions + 1)
        ],
    }


@contextlib.contextmanager
def scratch_databases(admin_url: str, workdir: Path) -> Iterator[tuple[str | None, str, str]]:
    """(Airflow metadata URL or ``None`` for SQLite, MECA data URL, description), dropped at the end.

    Two fresh PostgreSQL databases when ``admin_url`` answers, else SQLite files in ``workdir``.
    """
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        print(f"no PostgreSQL at {make_url(admin_url).render_as_string()} ({exc.orig}): using SQLite files")
        yield None, f"sqlite:///{workdir / 'meca-data.db'}", "SQLite (metadata and data)"
        return
    names = [f"meca_bench_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("airflow", "data")]
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = make_url(admin_url)
    urls = [base.set(database=name).render_as_string(hide_password=False) for name in names]
    try:
        yield urls[0], urls[1], "PostgreSQL (metadata and data)"
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def data_connection(url: str) -> str:
    """The ``meca_data`` Connection (JSON) for a SQLAlchemy URL of SQLite or PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return json.dumps({"conn_type": "sqlite", "host": parsed.database})
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": parsed.host,
            "port": parsed.port or 5432,
            "login": parsed.username,
            "password": parsed.password or "",
            "schema": parsed.database,
        }
    )


def request_counts(control: SimulatorControl) -> dict[str, Counter[str]]:
    """Each region's API requests so far, by command."""
    return {r["name"]: Counter(r["requests"]["by_command"]) for r in control.regions()}


@dataclass(frozen=True)
class SweepFigures:
    """One sweep run's figures."""

    run_id: str
    run_type: str
    state: str
    wall_s: float
    regions_ok: int
    calls_per_region: list[float]
    sweeps_counted: int
    calls_by_command: Counter[str]
    task_s: list[float]
    failures: dict[str, str]

    def describe(self, regions: int) -> str:
        """Several lines for the report."""
        calls = self.calls_per_region
        per_command = ", ".join(
            f"{c} {n / regions / self.sweeps_counted:g}" for c, n in sorted(self.calls_by_command.items())
        )
        counted = "" if self.sweeps_counted == 1 else f" ({self.sweeps_counted} sweeps ran meanwhile)"
        return (
            f"run {self.run_id} ({self.run_type}): {self.state}, {self.regions_ok}/{regions} regions swept\n"
            f"  wall time {self.wall_s:.1f} s (target < {TARGET_WALL_S:.0f} s: "
            f"{self.wall_s / TARGET_WALL_S:.2f} of it)\n"
            f"  API calls per region per sweep{counted}: "
            f"mean {statistics.fmean(calls):.2f}, max {max(calls):g} "
            f"(target <= {TARGET_CALLS}: {max(calls) / TARGET_CALLS:.2f} of it); per command: {per_command}\n"
            f"  sweep_region task duration: median {statistics.median(self.task_s):.1f} s, "
            f"max {max(self.task_s):.1f} s"
            + "".join(f"\n  failed {region}: {reason}" for region, reason in sorted(self.failures.items()))
        )


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def figures(
    cluster: AirflowCluster,
    run_id: str,
    before: dict[str, Counter[str]],
    after: dict[str, Counter[str]],
    sweeps: int = 1,
) -> SweepFigures:
    """The figures of a finished run from the REST API and two request-count snapshots.

    :param sweeps: how many sweep runs ran between the snapshots (a 5-minute tick may add one).
    """
    response = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
    response.raise_for_status()
    run = response.json()
    tis = sweep_task_instances(cluster, run_id)
    deltas = {name: after[name] - before.get(name, Counter()) for name in after}
    by_command: Counter[str] = Counter()
    for delta in deltas.values():
        by_command.update(delta)
    return SweepFigures(
        run_id=run_id,
        run_type=run["run_type"],
        state=run["state"],
        wall_s=(_time(run["end_date"]) - _time(run["start_date"])).total_seconds(),
        regions_ok=sum(ti["state"] == "success" for ti in tis),
        calls_per_region=[sum(delta.values()) / sweeps for delta in deltas.values()],
        sweeps_counted=sweeps,
        calls_by_command=by_command,
        task_s=[ti["duration"] or 0.0 for ti in tis],
        failures={
            ti["rendered_map_index"] or str(ti["map_index"]): failure_reason(cluster, run_id, ti)
            for ti in tis
            if ti["state"] != "success"
        },
    )


def sweep_task_instances(cluster: AirflowCluster, run_id: str) -> list[dict[str, Any]]:
    """Every mapped ``sweep_region`` task instance of a run (the REST API pages by 100 at most)."""
    found: list[dict[str, Any]] = []
    while True:
        response = cluster.api(
            "GET",
            f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/sweep_region/listMapped",
            params={"limit": 100, "offset": len(found)},
        )
        response.raise_for_status()
        page = response.json()
        found.extend(page["task_instances"])
        if not page["task_instances"] or len(found) >= page["total_entries"]:
            return found


def failure_reason(cluster: AirflowCluster, run_id: str, ti: dict[str, Any]) -> str:
    """The state of a task instance that did not succeed and the last error line of its log."""
    try:
        log = cluster.task_log(DAG_ID, run_id, ti["task_id"], ti["map_index"], max(ti["try_number"], 1))
    except RuntimeError as exc:
        return f"{ti['state']} (no log: {exc})"
    errors = [line for line in log.splitlines() if '"level": "error"' in line or "Error" in line]
    return f"{ti['state']}: {(errors or ['no error line in its log'])[-1][:400]}"


def resize_pool(cluster: AirflowCluster, slots: int) -> None:
    """Give the ``cloudstack_api`` pool (the cluster made it from ``include/pools.json``) ``slots`` slots."""
    pools = json.loads((REPO / "include" / "pools.json").read_text())
    for method, path, body in (
        ("DELETE", f"/pools/{POOL}", None),
        ("POST", "/pools", {"name": POOL, **pools[POOL], "slots": slots}),
    ):
        response = cluster.api(method, path, json=body)
        if not response.ok:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code} {response.text[:1000]}")


def wait_for_first_run(cluster: AirflowCluster) -> str:
    """The run the scheduler starts when the DAG is unpaused, once it has finished."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        response = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns")
        response.raise_for_status()
        runs = response.json()["dag_runs"]
        if runs:
            run_id = str(runs[0]["dag_run_id"])
            cluster.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT_S)
            return run_id
        time.sleep(0.5)
    raise TimeoutError(f"no run of {DAG_ID} appeared within {RUN_TIMEOUT_S} s of unpausing it")


def wait_until_idle(cluster: AirflowCluster) -> int:
    """Wait until no sweep run is queued or running (a 5-minute tick may have queued one); the run count."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        response = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100})
        response.raise_for_status()
        runs = response.json()["dag_runs"]
        if all(run["state"] in ("success", "failed") for run in runs):
            return len(runs)
        time.sleep(1)
    raise TimeoutError(f"runs of {DAG_ID} still going {RUN_TIMEOUT_S} s after the triggered one finished")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when the judged run meets the targets (3x the wall time with ``--short``)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--short", action="store_true", help=f"{SHORT_REGIONS} regions; fail only on gross regressions"
    )
    parser.add_argument("--regions", type=int, help="number of regions (default 100, 20 with --short)")
    parser.add_argument(
        "--latency", type=float, default=0.3, help="seconds every API answer waits (default 0.3)"
    )
    parser.add_argument(
        "--parallelism", type=int, default=16, help="Airflow [core] parallelism and pool slots (default 16)"
    )
    parser.add_argument(
        "--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL server for scratch databases"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) under /tmp")
    args = parser.parse_args(argv)
    regions = args.regions or (SHORT_REGIONS if args.short else 100)

    workdir = Path(tempfile.mkdtemp(prefix="meca-sweep-bench-"))
    try:
        with (
            run_simulator(federation(regions, args.latency), workdir / "simulator") as simulator,
            scratch_databases(args.admin_url, workdir) as (airflow_url, data_url, databases),
        ):
            data_engine = engine_for_url(data_url)
            upgrade(data_engine)
            data_engine.dispose()
            env = airflow_env(simulator.endpoints)
            env["AIRFLOW_CONN_MECA_DATA"] = data_connection(data_url)
            env["AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG"] = str(args.parallelism)
            print(
                f"{regions} regions, {args.latency} s per API answer; Airflow LocalExecutor, parallelism "
                f"{args.parallelism}, pool {POOL} {args.parallelism} slots; databases: {databases}",
                flush=True,
            )
            with AirflowCluster(
                workdir / "airflow",
                dags_folder=REPO / "dags",
                plugins_folder=REPO / "plugins",
                db_url=airflow_url,
                env_extra=env,
                parallelism=args.parallelism,
                startup_timeout=300.0,
            ) as cluster:
                resize_pool(cluster, args.parallelism)
                control = simulator.control
                before = request_counts(control)
                cluster.wait_for_dag(DAG_ID)
                first = wait_for_first_run(cluster)
                middle = request_counts(control)
                triggered = cluster.trigger(DAG_ID)
                cluster.wait_for_run(DAG_ID, triggered, timeout=RUN_TIMEOUT_S)
                runs = wait_until_idle(cluster)
                after = request_counts(control)
                results = [
                    figures(cluster, first, before, middle),
                    figures(cluster, triggered, middle, after, sweeps=runs - 1),
                ]
        for result in results:
            print(result.describe(regions))
        judged = results[-1]
        wall_limit = TARGET_WALL_S * (SHORT_FACTOR if args.short else 1)
        failures = []
        if judged.state != "success" or judged.regions_ok != regions:
            failures.append(f"the run ended {judged.state} with {judged.regions_ok}/{regions} regions swept")
        if judged.wall_s > wall_limit:
            failures.append(f"wall time {judged.wall_s:.1f} s is over {wall_limit:.0f} s")
        if max(judged.calls_per_region) > TARGET_CALLS:
            failures.append(f"a region got {max(judged.calls_per_region)} calls (more than {TARGET_CALLS})")
        for failure in failures:
            print(f"FAIL: {failure}")
        return 1 if failures else 0
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
