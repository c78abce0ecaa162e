"""Classroom sessions in a real multi-process Airflow, booked by a teacher over the REST API.

The teacher runs the curl commands of ``docs/sessions.md`` (sections "2. The REST API" and "Cancel
and extend") as they are written, only with this cluster's address and password, a session id, times
and a VM count of ours.
Time is compressed: a session starts 90 s from now and lasts 60 s; the seed topology deploys a VM in
about 2 s and the provisioning lead time (10 minutes) means the VMs are created at once. The region's
VMs are watched with a plain ``cs`` client, independent of the code under test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cloudstack_simulator.testing import SimulatorHandle
from meca.sessions.tags import vm_name
from tests.e2e.airflow_cluster import AirflowCluster
from tests.e2e.session_watch import booked_region, poll, running_vms, session_vms_anywhere, task_states
from tests.meca.sessions.session_cloud import raw_api

pytestmark = pytest.mark.e2e

DAG_ID = "meca_classroom_session"
REAPER_ID = "meca_session_reaper"
SWEEP_ID = "meca_metrics_sweep"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "sessions.md"
#: What the documented commands hold that a run here must change, and the documented conf values.
DOC_HOST = "http://localhost:8080"
DOC_PASSWORD = "YOUR-PASSWORD"
DOC_RUN_ID = "lab3-2026-12-01"
DOC_START = "2026-12-01T09:00:00+01:00"
DOC_END = "2026-12-01T11:00:00+01:00"
DOC_INSTANCES = '"instances": 18'
DOC_POST = 'curl -s -X POST "$AIRFLOW/api/v2/'
DOC_NEW_END = "2026-12-01T11:30:00+01:00"
REST = "2. The REST API"
CONTROL = "Cancel and extend"
CET = timezone(timedelta(hours=1))


@pytest.fixture(scope="module")
def cluster(airflow_cluster: AirflowCluster) -> AirflowCluster:
    airflow_cluster.wait_for_dag(DAG_ID)
    return airflow_cluster


def documented_commands(section: str) -> list[str]:
    """The bash blocks of a section of ``docs/sessions.md`` (named by its heading), in order."""
    text = DOCS.read_text()
    assert f"\n## {section}\n" in text, f"docs/sessions.md has no section {section!r}"
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", body, flags=re.DOTALL)


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"docs/sessions.md changed: expected {old!r} once in:\n{text}"
    return text.replace(old, new)


def run_documented(
    cluster: AirflowCluster, section: str, index: int, replacements: dict[str, str]
) -> list[Any]:
    """Run the ``index``-th bash block of a section with bash; return every JSON value it printed.

    Any block but the booking runs after the variable settings of the booking block (``AIRFLOW``,
    ``TOKEN``), as in the teacher's shell.
    """
    first = documented_commands(REST)[0]
    script = documented_commands(section)[index]
    if script != first:
        assert DOC_POST in first, f"docs/sessions.md changed: no {DOC_POST!r} in its first block"
        script = first.split(DOC_POST, 1)[0] + script
    for old, new in {DOC_HOST: cluster.base_url, DOC_PASSWORD: cluster.password, **replacements}.items():
        script = _replace_once(script, old, new)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"the documented commands failed:\n{script}\n{done.stderr}"
    decoder, out, values, at = json.JSONDecoder(), done.stdout.strip(), [], 0
    while at < len(out):
        value, at = decoder.raw_decode(out, at)
        values.append(value)
        while at < len(out) and out[at].isspace():
            at += 1
    return values


def book_as_teacher(
    cluster: AirflowCluster, run_id: str, start: datetime, end: datetime, instances: int
) -> dict[str, Any]:
    """Get a token and POST the session, exactly with the documented curl commands."""
    (run,) = run_documented(
        cluster,
        REST,
        0,
        {
            DOC_RUN_ID: run_id,
            DOC_START: start.isoformat(),
            DOC_END: end.isoformat(),
            DOC_INSTANCES: f'"instances": {instances}',
        },
    )
    assert run["dag_run_id"] == run_id, run
    assert run["state"] == "queued", run
    return run


def reaped(cluster: AirflowCluster) -> dict[str, str]:
    """``{VM name: reason}`` of every VM destroyed by any finished reaper run so far."""
    runs = cluster.api("GET", f"/dags/{REAPER_ID}/dagRuns", params={"limit": 100}).json()["dag_runs"]
    out = {}
    for run in runs:
        if run["state"] not in ("success", "failed"):
            continue
        for ti in cluster.task_instances(REAPER_ID, run["dag_run_id"]):
            if ti["task_id"] == "reap" and ti["state"] == "success":
                result = cluster.xcom(REAPER_ID, run["dag_run_id"], "reap", map_index=ti["map_index"])
                out |= {vm["name"]: vm["reason"] for vm in result["destroyed"]}
    return out


def test_a_teacher_books_over_rest_vms_run_before_the_start_and_are_gone_after_the_end(
    cluster: AirflowCluster, seed_simulator: SimulatorHandle
) -> None:
    started = time.monotonic()
    run_id = f"lab-e2e-{uuid.uuid4().hex[:8]}"
    start = (datetime.now(CET) + timedelta(seconds=90)).replace(microsecond=0)
    end = start + timedelta(seconds=60)

    book_as_teacher(cluster, run_id, start, end, instances=3)
    region = booked_region(cluster, run_id)
    vms = running_vms(cluster, seed_simulator, region, run_id, 3, timeout=80.0)
    running_at = datetime.now(CET)
    print(
        f"session {run_id}: 3 VMs Running in {region} {time.monotonic() - started:.1f} s after the POST, "
        f"{(start - running_at).total_seconds():.0f} s before the start",
        file=sys.stderr,
    )

    assert running_at < start, f"the VMs were Running only at {running_at}, the start is {start}"
    assert sorted(vm["name"] for vm in vms) == [vm_name(run_id, i) for i in (1, 2, 3)]
    state = cluster.wait_for_run(DAG_ID, run_id, timeout=(end - datetime.now(CET)).total_seconds() + 180)
    print(f"session {run_id}: run {state} {time.monotonic() - started:.1f} s after the POST", file=sys.stderr)

    assert state == "success"
    states = task_states(cluster, DAG_ID, run_id)
    assert states.pop("trigger_repeats") == "skipped"  # a single session has no later week to trigger
    assert set(states.values()) == {"success"}
    checked = cluster.xcom(DAG_ID, run_id, "check_running")
    assert sorted(vm["id"] for vm in checked) == sorted(vm["id"] for vm in vms)
    assert all(vm["state"] == "Running" and vm["address"] for vm in checked)
    teardown = next(ti for ti in cluster.task_instances(DAG_ID, run_id) if ti["task_id"] == "teardown")
    assert datetime.fromisoformat(teardown["start_date"]) >= end
    assert session_vms_anywhere(seed_simulator, run_id) == {}
    (documented,) = run_documented(cluster, REST, 1, {DOC_RUN_ID: run_id})  # the documented follow-up
    assert {ti["task_id"]: ti["state"] for ti in documented["task_instances"]}["verify_clean"] == "success"


def leave_vm_behind(
    seed_simulator: SimulatorHandle, region: str, run_id: str, index: int, *, tag: bool
) -> str:
    """Create a VM of the session behind the run's back, as a killed provisioning worker would; its name."""
    api = raw_api(seed_simulator, region)
    template = next(
        t
        for t in api.listTemplates(templatefilter="executable", fetch_list=True)
        if t["name"] == "Ubuntu-22.04-Server" and t["isready"]
    )
    offering = next(o for o in api.listServiceOfferings(fetch_list=True) if o["name"] == "Small")
    name = vm_name(run_id, index)
    vm = api.deployVirtualMachine(
        zoneid=template["zoneid"],
        templateid=template["id"],
        serviceofferingid=offering["id"],
        name=name,
        fetch_result=True,
    )["virtualmachine"]
    if tag:
        api.createTags(
            resourcetype="UserVm",
            resourceids=vm["id"],
            tags=[{"key": "meca-session", "value": run_id}],
            fetch_result=True,
        )
    return name


def test_a_run_marked_failed_mid_session_is_torn_down_and_the_reaper_takes_what_is_left(
    cluster: AirflowCluster, seed_simulator: SimulatorHandle
) -> None:
    started = time.monotonic()
    run_id = f"lab-e2e-{uuid.uuid4().hex[:8]}"
    start = (datetime.now(CET) + timedelta(seconds=60)).replace(microsecond=0)
    end = start + timedelta(minutes=30)
    book_as_teacher(cluster, run_id, start, end, instances=2)
    region = booked_region(cluster, run_id)
    vms = running_vms(cluster, seed_simulator, region, run_id, 2, timeout=80.0)
    poll(
        "the wait for the end",
        60.0,
        lambda: task_states(cluster, DAG_ID, run_id)["wait_for_end"] == "deferred" or None,
    )

    marked = cluster.api("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}", json={"state": "failed"})

    assert marked.status_code == 200, marked.text
    # Airflow 3.3 fails the deferred wait and keeps the run going until its teardown tasks are done.
    assert marked.json()["state"] == "running"
    state = cluster.wait_for_run(DAG_ID, run_id, timeout=120.0)
    print(
        f"run {run_id} marked failed: {state} {time.monotonic() - started:.1f} s after the POST",
        file=sys.stderr,
    )
    assert state == "failed"
    states = task_states(cluster, DAG_ID, run_id)
    assert (states["wait_for_end"], states["teardown"], states["verify_clean"]) == (
        "failed",
        "success",
        "success",
    )
    assert sorted(vm["name"] for vm in cluster.xcom(DAG_ID, run_id, "teardown")["destroyed"]) == sorted(
        vm["name"] for vm in vms
    )
    assert session_vms_anywhere(seed_simulator, run_id) == {}
    # The teardown ran before the end: the booking is failed and holds nothing (lifecycle.finish).
    booking = cluster.http("GET", f"/meca/sessions/api/sessions/{run_id}")
    assert booking.status_code == 200, booking.text
    assert booking.json()["state"] == "failed"

    left = {
        leave_vm_behind(seed_simulator, region, run_id, 3, tag=True): "session is failed",
        leave_vm_behind(
            seed_simulator, region, run_id, 4, tag=False
        ): "untagged session VM matching no live booking",
    }
    cluster.wait_for_dag(REAPER_ID)
    reaper_run = cluster.trigger(REAPER_ID)
    assert cluster.wait_for_run(REAPER_ID, reaper_run, timeout=240.0) == "success"
    print(f"reaper done {time.monotonic() - started:.1f} s after the POST", file=sys.stderr)

    assert session_vms_anywhere(seed_simulator, run_id) == {}
    reasons = reaped(cluster)
    assert {name: reasons.get(name) for name in left} == left


def test_a_teacher_extends_then_cancels_a_running_session_over_rest_and_it_is_torn_down_at_once(
    cluster: AirflowCluster, seed_simulator: SimulatorHandle
) -> None:
    started = time.monotonic()
    run_id = f"lab-e2e-{uuid.uuid4().hex[:8]}"
    start = (datetime.now(CET) + timedelta(seconds=60)).replace(microsecond=0)
    end = start + timedelta(minutes=30)
    new_end = end + timedelta(minutes=15)
    cluster.wait_for_dag(SWEEP_ID)  # an extension is checked against the latest swept capacity
    sweep = cluster.trigger(SWEEP_ID)
    book_as_teacher(cluster, run_id, start, end, instances=2)
    region = booked_region(cluster, run_id)
    running_vms(cluster, seed_simulator, region, run_id, 2, timeout=80.0)
    assert cluster.wait_for_run(SWEEP_ID, sweep, timeout=240.0) == "success"
    poll(
        "the wait for the end",
        60.0,
        lambda: task_states(cluster, DAG_ID, run_id)["wait_for_end"] == "deferred" or None,
    )

    shown, extended, cancelled = run_documented(
        cluster, CONTROL, 0, {DOC_RUN_ID: run_id, DOC_NEW_END: new_end.isoformat()}
    )
    cancelled_at = time.monotonic()

    # check_running made it running before wait_for_end deferred.
    assert (shown["session_id"], shown["state"], shown["region"]) == (run_id, "running", region)
    assert datetime.fromisoformat(shown["end"]) == end
    assert datetime.fromisoformat(extended["end"]) == new_end
    assert (extended["state"], extended["changed_by"]) == ("running", cluster.username)
    assert (cancelled["state"], cancelled["changed_by"]) == ("cancelled", cluster.username)
    assert cluster.wait_for_run(DAG_ID, run_id, timeout=120.0) == "success"
    print(
        f"session {run_id} cancelled: torn down and run success {time.monotonic() - cancelled_at:.1f} s "
        f"after the cancel ({time.monotonic() - started:.1f} s after the POST)",
        file=sys.stderr,
    )
    assert cluster.xcom(DAG_ID, run_id, "wait_for_end")["status"] == "cancelled"
    assert len(cluster.xcom(DAG_ID, run_id, "teardown")["destroyed"]) == 2
    assert session_vms_anywhere(seed_simulator, run_id) == {}
