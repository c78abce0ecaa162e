"""SessionVmsRunningTrigger against the real simulator: fires when all are Running, or says why not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cloudstack_simulator.testing import SimulatorHandle, run_simulator
from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.sessions.provision import resolve_spec
from meca.sessions.tags import vm_name
from meca.triggers.vms_running import SessionVmsRunningTrigger
from tests.meca.sessions.session_cloud import OFFERING, TEMPLATE, connect_all, raw_api, topology


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    with run_simulator(topology("alpha", deploy_s=1.0), tmp_path_factory.mktemp("trigger-sim")) as handle:
        yield handle


@pytest.fixture
def conn_id(cloud: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield connect_all(cloud, monkeypatch)["alpha"]
    cloud.control.set_faults("alpha", deploy_failure_rate=0.0)


def _deploy(cloud: SimulatorHandle, conn_id: str, session: str, indexes: range) -> None:
    """Start deploys without waiting for their jobs, like provisioning leaves them."""
    spec = asyncio.run(resolve_spec(CloudStackAsyncHook(conn_id), template=TEMPLATE, offering=OFFERING))
    api = raw_api(cloud, "alpha")
    for index in indexes:
        api.deployVirtualMachine(
            zoneid=spec.zone_id,
            templateid=spec.template_id,
            serviceofferingid=spec.offering_id,
            name=vm_name(session, index),
        )


def _first_event(trigger: SessionVmsRunningTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def test_fires_once_every_vm_is_running_with_names_and_addresses(cloud, conn_id: str) -> None:
    session = f"manual__{uuid.uuid4()}"
    _deploy(cloud, conn_id, session, range(1, 4))

    event = _first_event(SessionVmsRunningTrigger(conn_id, session, 3, poll_s=0.1, timeout_s=60))

    assert event["status"] == "running"
    assert sorted(vm["name"] for vm in event["vms"]) == [vm_name(session, i) for i in range(1, 4)]
    assert {vm["state"] for vm in event["vms"]} == {"Running"}
    assert all(vm["address"] for vm in event["vms"])


def test_reports_a_vm_in_error(cloud, conn_id: str) -> None:
    cloud.control.set_faults("alpha", deploy_failure_rate=1.0)
    session = f"manual__{uuid.uuid4()}"
    _deploy(cloud, conn_id, session, range(1, 3))

    event = _first_event(SessionVmsRunningTrigger(conn_id, session, 2, poll_s=0.1, timeout_s=60))

    assert event["status"] == "failed"
    assert f"{vm_name(session, 1)} is Error" in event["message"]


def test_gives_up_at_the_timeout_when_vms_are_missing(cloud, conn_id: str) -> None:
    session = f"manual__{uuid.uuid4()}"
    _deploy(cloud, conn_id, session, range(1, 2))

    event = _first_event(SessionVmsRunningTrigger(conn_id, session, 2, poll_s=0.2, timeout_s=2))

    assert event["status"] == "failed"
    assert event["message"].startswith("after 2 s, not all 2 VM(s) are Running")
    assert vm_name(session, 1) in event["message"]


def test_serialises_to_its_classpath_and_arguments() -> None:
    trigger = SessionVmsRunningTrigger("cloudstack_alpha", "s", 4, poll_s=1.5, timeout_s=30)
    classpath, kwargs = trigger.serialize()
    assert classpath == "meca.triggers.vms_running.SessionVmsRunningTrigger"
    assert SessionVmsRunningTrigger(**kwargs).serialize() == (classpath, kwargs)
