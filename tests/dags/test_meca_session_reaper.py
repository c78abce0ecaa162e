"""``meca_session_reaper`` run with ``dag.test()``: it destroys exactly the VMs no live booking protects.

Also the worst case: a worker SIGKILLed in the middle of provisioning, its session's run failed;
the reaper leaves no VM, tagged or not.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from cloudstack_simulator.testing import SimulatorHandle
from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.sessions.booking import book
from meca.sessions.control import cancel_session
from meca.sessions.ledger import get_booking
from meca.sessions.provision import provision_session, resolve_spec
from meca.sessions.request import SessionRequest
from meca.sessions.tags import vm_name
from tests.meca.sessions.session_cloud import OFFERING, TEMPLATE, connect_all, raw_api, topology, vms_of

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(sqlite_meca_data: Engine) -> Engine:
    return sqlite_meca_data


@pytest.fixture
def cloud(simulator_factory, monkeypatch: pytest.MonkeyPatch, airflow_pools: None) -> SimulatorHandle:
    handle = simulator_factory(topology("alpha", "beta"))
    connect_all(handle, monkeypatch)
    return handle


def _book(engine: Engine, session_id: str, *, now: datetime, region: str = "alpha") -> None:
    start = now + timedelta(minutes=5)
    conf = {
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "title": f"lab {session_id}",
        "owner": "teacher@example.org",
        "region": region,
        "template": TEMPLATE,
        "instances": 2,
        "offering": OFFERING,
    }
    book(engine, SessionRequest.from_conf(conf, now=now), session_id=session_id, now=now)


def _provision(region: str, session_id: str, count: int) -> None:
    hook = CloudStackAsyncHook(f"cloudstack_{region}")

    async def run() -> None:
        spec = await resolve_spec(hook, template=TEMPLATE, offering=OFFERING)
        await provision_session(hook, session_id, count, spec)

    asyncio.run(run())


def _failed_session_run(dagbag, engine: Engine) -> str:
    """The run id of a finished, failed ``meca_classroom_session`` run, with no booking of its own.

    The run is refused, and its stored refusal is dropped: the test books that id itself, like the
    booking of a run that failed after its ``reserve`` (killed, marked failed).
    """
    from sqlalchemy import delete

    from meca.store.models import SessionBooking

    start = datetime.now(UTC) + timedelta(hours=1)
    conf = {"start": start.isoformat(), "end": (start - timedelta(minutes=5)).isoformat()}
    conf |= {"title": "t", "owner": "o", "template": TEMPLATE, "offering": OFFERING, "instances": 1}
    run = dagbag.get_dag("meca_classroom_session").test(run_conf=conf)
    assert run.state == "failed"
    with engine.begin() as connection:
        deleted = connection.execute(delete(SessionBooking).where(SessionBooking.session_id == run.run_id))
    assert deleted.rowcount == 1  # the refusal was stored
    return run.run_id


def _reap(dagbag) -> tuple[Any, dict[str, Any]]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    run = dagbag.get_dag("meca_session_reaper").test()
    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(
                run_id=run.run_id, key="return_value", task_ids="reap", dag_ids="meca_session_reaper"
            )
        ).all()
        by_region = {value["region"]: value for value in map(XComModel.deserialize_value, rows)}
    return run, by_region


def test_destroys_what_no_live_booking_protects_and_keeps_the_rest(dagbag, cloud, engine: Engine) -> None:
    now = datetime.now(UTC)
    failed_run = _failed_session_run(dagbag, engine)
    for session_id in ("live", "cancelled", "elsewhere", failed_run):
        _book(engine, session_id, now=now)
    _book(engine, "ended", now=now - timedelta(hours=3))
    cancel_session(engine, "cancelled", by="teacher@example.org", now=now)
    for region, session_id, count in [
        ("alpha", "live", 2),
        ("alpha", "cancelled", 2),
        ("alpha", "ended", 1),
        ("alpha", "ghost", 1),
        ("alpha", failed_run, 1),
        ("beta", "elsewhere", 1),
    ]:
        _provision(region, session_id, count)
    spec = asyncio.run(
        resolve_spec(CloudStackAsyncHook("cloudstack_alpha"), template=TEMPLATE, offering=OFFERING)
    )
    raw_api(cloud, "alpha").deployVirtualMachine(  # an untagged VM left by a killed worker
        zoneid=spec.zone_id,
        templateid=spec.template_id,
        serviceofferingid=spec.offering_id,
        name=vm_name("nobody", 1),
        fetch_result=True,
    )

    run, by_region = _reap(dagbag)

    assert run.state == "success"
    assert sorted(vm["name"] for vm in vms_of(raw_api(cloud, "alpha"))) == [
        vm_name("live", i) for i in (1, 2)
    ]
    assert vms_of(raw_api(cloud, "beta")) == []
    reasons = {vm["session"]: vm["reason"] for r in by_region.values() for vm in r["destroyed"]}
    assert reasons == {
        "cancelled": "session cancelled by teacher@example.org",
        "ended": reasons["ended"],
        "ghost": "unknown session (no booking)",
        failed_run: "its DAG run is failed before the end",
        "elsewhere": "session booked in region alpha",
        None: "untagged session VM matching no live booking",
    }
    assert reasons["ended"].startswith("session ended at ")
    assert by_region["alpha"]["kept"] == 2
    assert len(by_region["alpha"]["destroyed"]) == 6
    # The booking of the failed run holds no seat any more; the live one still does.
    released = get_booking(engine, failed_run)
    assert released is not None
    assert released.state == "failed"
    assert get_booking(engine, "live").state == "accepted"


PROVISION_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from meca.cloudstack.async_hook import CloudStackAsyncHook
    from meca.sessions.provision import provision_session, resolve_spec

    async def main():
        hook = CloudStackAsyncHook("cloudstack_alpha")
        spec = await resolve_spec(hook, template=sys.argv[2], offering=sys.argv[3])
        await provision_session(hook, sys.argv[1], 6, spec)

    asyncio.run(main())
    """
)


def test_a_worker_killed_mid_provision_leaves_no_vm_after_the_reaper(dagbag, cloud, engine: Engine) -> None:
    session_id = _failed_session_run(dagbag, engine)  # the run of the session failed when its worker died
    _book(engine, session_id, now=datetime.now(UTC))
    cloud.control.set_faults("alpha", job_slowdown=30.0)  # deploys take 9 s: the kill lands mid-way
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    worker = subprocess.Popen(
        [sys.executable, "-c", PROVISION_SCRIPT, session_id, TEMPLATE, OFFERING], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while len(vms_of(raw_api(cloud, "alpha"))) < 6:
            assert worker.poll() is None, "the provisioning worker ended before it was killed"
            assert time.monotonic() < deadline, "the worker never deployed its VMs"
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    left = vms_of(raw_api(cloud, "alpha"))
    assert len(left) == 6
    assert {vm["state"] for vm in left} == {"Starting"}
    cloud.control.set_faults("alpha", job_slowdown=1.0)

    run, by_region = _reap(dagbag)

    assert run.state == "success"
    assert vms_of(raw_api(cloud, "alpha")) == []
    assert len(by_region["alpha"]["destroyed"]) == 6
