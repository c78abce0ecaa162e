"""Watching a classroom session's run and VMs from outside, for the end-to-end tests.

The run is read over the REST API (as the cluster's admin), the VMs with a plain ``cs`` client of
the simulated region, independent of the code under test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from cloudstack_simulator.testing import SimulatorHandle
from tests.e2e.airflow_cluster import AirflowCluster
from tests.meca.sessions.session_cloud import raw_api, vms_of

SESSION_DAG_ID = "meca_classroom_session"

T = TypeVar("T")


def poll(what: str, timeout: float, probe: Callable[[], T | None], interval: float = 0.5) -> T:
    """Call ``probe`` until it returns something other than None; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while (result := probe()) is None:
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(interval)
    return result


def task_states(cluster: AirflowCluster, dag_id: str, run_id: str) -> dict[str, str | None]:
    """``{task_id: state}`` of a run (unmapped tasks)."""
    return {ti["task_id"]: ti["state"] for ti in cluster.task_instances(dag_id, run_id)}


def booked_region(cluster: AirflowCluster, run_id: str, timeout: float = 120.0) -> str:
    """The region ``reserve`` placed the session in, once it has succeeded."""

    def reserved() -> str | None:
        state = task_states(cluster, SESSION_DAG_ID, run_id).get("reserve")
        assert state not in ("failed", "upstream_failed"), f"reserve {state}"
        return str(cluster.xcom(SESSION_DAG_ID, run_id, "reserve")["region"]) if state == "success" else None

    return poll(f"the booking of {run_id}", timeout, reserved)


def running_vms(
    cluster: AirflowCluster,
    seed_simulator: SimulatorHandle,
    region: str,
    run_id: str,
    count: int,
    timeout: float,
) -> list[dict[str, Any]]:
    """Wait until the region holds exactly ``count`` VMs of the session, all Running; return them."""
    api = raw_api(seed_simulator, region)

    def all_running() -> list[dict[str, Any]] | None:
        states = task_states(cluster, SESSION_DAG_ID, run_id)
        assert "failed" not in states.values(), f"run {run_id}: {states}"
        vms = vms_of(api, run_id)
        return vms if len(vms) == count and {vm["state"] for vm in vms} == {"Running"} else None

    return poll(f"{count} Running VMs of {run_id} in {region}", timeout, all_running)


def session_vms_anywhere(seed_simulator: SimulatorHandle, run_id: str) -> dict[str, list[str]]:
    """``{region: [VM names]}`` of the session's VMs left in any region of the federation."""
    left = {}
    for region in seed_simulator.endpoints["regions"]:
        names = [vm["name"] for vm in vms_of(raw_api(seed_simulator, region["name"]), run_id)]
        if names:
            left[region["name"]] = names
    return left
