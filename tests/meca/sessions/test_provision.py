"""Provisioning a session's VMs against the real simulator: parallel jobs, tags, exactly N, retries."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from cloudstack_simulator.testing import SimulatorHandle, run_simulator
from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.sessions.provision import ProvisioningError, provision_session, resolve_spec
from meca.sessions.tags import TAG_KEY, vm_name
from tests.meca.sessions.session_cloud import OFFERING, TEMPLATE, connect_all, raw_api, topology, vms_of

FAST = {"poll_s": 0.05, "timeout_s": 60.0}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    with run_simulator(topology("alpha"), tmp_path_factory.mktemp("provision-sim")) as handle:
        yield handle


@pytest.fixture
def hook(cloud: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudStackAsyncHook]:
    conn_ids = connect_all(cloud, monkeypatch)
    yield CloudStackAsyncHook(cloudstack_conn_id=conn_ids["alpha"])
    cloud.control.set_faults("alpha", deploy_failure_rate=0.0)


def _provision(hook: CloudStackAsyncHook, session_id: str, count: int, **kwargs):
    async def run():
        spec = await resolve_spec(hook, template=TEMPLATE, offering=OFFERING)
        return await provision_session(hook, session_id, count, spec, **{**FAST, **kwargs})

    return asyncio.run(run())


def test_creates_exactly_n_tagged_running_vms_and_a_rerun_creates_none(cloud, hook) -> None:
    session = f"manual__{uuid.uuid4()}"
    report = _provision(hook, session, 5)

    assert report.deployed == 5
    assert report.failures == []
    listed = vms_of(raw_api(cloud, "alpha"), session)
    assert sorted(vm["name"] for vm in listed) == [vm_name(session, i) for i in range(1, 6)]
    assert {vm["state"] for vm in listed} == {"Running"}
    assert all({"key": TAG_KEY, "value": session}.items() <= vm["tags"][0].items() for vm in listed)
    assert sorted(r["address"] for r in report.vms) == sorted(vm["nic"][0]["ipaddress"] for vm in listed)

    again = _provision(hook, session, 5)
    assert again.deployed == 0
    assert len(vms_of(raw_api(cloud, "alpha"), session)) == 5


def test_failed_deploys_are_replaced_until_exactly_n(cloud, hook) -> None:
    cloud.control.set_faults("alpha", deploy_failure_rate=0.4)
    session = f"manual__{uuid.uuid4()}"

    report = _provision(hook, session, 8, rounds=6)

    assert report.failures, "with a 40 % failure rate some of the 8 deploys must fail"
    assert report.deployed == 8 + len(report.failures)
    listed = vms_of(raw_api(cloud, "alpha"), session)
    assert len(listed) == 8
    assert {vm["state"] for vm in listed} == {"Running"}
    assert {r["id"] for r in report.vms} == {vm["id"] for vm in listed}
    assert {vm["id"] for vm in report.removed}.isdisjoint(r["id"] for r in report.vms)


def test_gives_up_with_a_clear_message_when_every_deploy_fails(cloud, hook) -> None:
    cloud.control.set_faults("alpha", deploy_failure_rate=1.0)
    session = f"manual__{uuid.uuid4()}"

    with pytest.raises(
        ProvisioningError, match=r"only 0 of 2 VM\(s\) in region alpha after 2 round\(s\)"
    ) as caught:
        _provision(hook, session, 2, rounds=2)
    assert "hypervisor agent reported an error" in str(caught.value)


def test_counts_an_untagged_vm_left_by_a_killed_worker_and_never_exceeds_n(cloud, hook) -> None:
    session = f"manual__{uuid.uuid4()}"
    api = raw_api(cloud, "alpha")
    spec = asyncio.run(resolve_spec(hook, template=TEMPLATE, offering=OFFERING))
    for index in (2, 5, 9):  # deployed before a crash, never tagged
        api.deployVirtualMachine(
            zoneid=spec.zone_id,
            templateid=spec.template_id,
            serviceofferingid=spec.offering_id,
            name=vm_name(session, index),
            fetch_result=True,
        )

    report = _provision(hook, session, 2)

    assert report.deployed == 0
    listed = vms_of(api, session)
    assert len(listed) == 2
    assert all(vm["tags"] and vm["tags"][0]["value"] == session for vm in listed)
    assert len(report.removed) == 1


@pytest.mark.parametrize(
    ("template", "offering", "message"),
    [
        ("Windows 3.1", OFFERING, "template 'Windows 3.1' is not Ready in any zone of region alpha"),
        (TEMPLATE, "Gigantic", "region alpha has no service offering 'Gigantic'; it has ['Small']"),
    ],
)
def test_unknown_template_or_offering_is_named(hook, template: str, offering: str, message: str) -> None:
    with pytest.raises(ProvisioningError, match=message.replace("(", r"\(").replace("[", r"\[")):
        asyncio.run(resolve_spec(hook, template=template, offering=offering))
